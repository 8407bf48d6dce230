//! A typed cross-core mesh: every core can send a value of type `M` to every core.
//!
//! [`mesh`] creates one bounded channel per ordered pair of cores before the executors
//! start and hands out one [`MeshSeed`] per core. On its core, [`MeshSeed::connect`]
//! starts one receive loop per peer, which gives each arriving value to the core's
//! handler.
//! Request/reply is built on top by the caller with correlation ids (creating a channel
//! per request would cost far more than the message).
//!
//! Backpressure: a full channel makes [`Mesh::send`] wait. Receive loops only hand values
//! to a synchronous handler, which must not wait on the mesh itself (it spawns tasks for
//! that), so a full channel always drains.

use std::rc::Rc;

use crate::channel::{Receiver, Sender, bounded};

use crate::task::spawn_detached;

/// Values in flight per ordered pair of cores before a sender waits. Bounded, so a core
/// that stops receiving cannot grow another's memory; 1024 covers a burst of pipelined deliveries to one account.
pub const MESH_CHANNEL_CAPACITY_MAX: usize = 1024;

/// Why a value could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// No such core.
    #[error("no core {0} in the mesh")]
    NoSuchCore(usize),
    /// The receiving core has shut down.
    #[error("core {0} is gone")]
    Closed(usize),
}

/// One core's unconnected ends of the mesh; `Send`, created on the main thread.
pub struct MeshSeed<M: Send + 'static> {
    index: usize,
    senders: Vec<Option<Sender<M>>>,
    receivers: Vec<Option<Receiver<M>>>,
}

/// Creates the mesh for `cores` cores; element N is core N's seed.
pub fn mesh<M: Send + 'static>(cores: usize) -> Vec<MeshSeed<M>> {
    let mut seeds: Vec<MeshSeed<M>> = (0..cores)
        .map(|index| MeshSeed {
            index,
            senders: (0..cores).map(|_| None).collect(),
            receivers: (0..cores).map(|_| None).collect(),
        })
        .collect();
    for from in 0..cores {
        for to in 0..cores {
            if from == to {
                continue;
            }
            let (sender, receiver) = bounded(MESH_CHANNEL_CAPACITY_MAX);
            seeds[from].senders[to] = Some(sender);
            seeds[to].receivers[from] = Some(receiver);
        }
    }
    seeds
}

type Handler<M> = Rc<dyn Fn(&Mesh<M>, usize, M)>;

/// This core's connected mesh: cheap to clone (`Rc`), `!Send`.
pub struct Mesh<M: Send + 'static> {
    shared: Rc<MeshShared<M>>,
}

struct MeshShared<M: Send + 'static> {
    index: usize,
    count: usize,
    senders: Vec<Option<Sender<M>>>,
    handler: Handler<M>,
}

impl<M: Send + 'static> Clone for Mesh<M> {
    fn clone(&self) -> Self {
        Mesh { shared: Rc::clone(&self.shared) }
    }
}

impl<M: Send + 'static> MeshSeed<M> {
    /// Starts delivering arriving values to `handler(mesh, from_core, value)`. Must run on the
    /// core the seed was made for. The handler gets the mesh so it can answer.
    pub async fn connect(self, handler: impl Fn(&Mesh<M>, usize, M) + 'static) -> Mesh<M> {
        let count = self.senders.len();
        let handler: Handler<M> = Rc::new(handler);
        let shared =
            MeshShared { index: self.index, count, senders: self.senders, handler: Rc::clone(&handler) };
        let mesh = Mesh { shared: Rc::new(shared) };
        for (from, receiver) in self.receivers.into_iter().enumerate() {
            let Some(receiver) = receiver else { continue };
            let handler = Rc::clone(&handler);
            let mesh = mesh.clone();
            spawn_detached(async move {
                while let Some(value) = receiver.recv().await {
                    handler(&mesh, from, value);
                }
            });
        }
        mesh
    }
}

impl<M: Send + 'static> Mesh<M> {
    /// This core's index.
    pub fn core(&self) -> usize {
        self.shared.index
    }

    /// Number of cores in the mesh.
    pub fn cores(&self) -> usize {
        self.shared.count
    }

    /// Sends `value` to core `to`, waiting while that channel is full. Sending to the
    /// own core hands the value to the handler from a fresh task (never re-entrantly).
    pub async fn send(&self, to: usize, value: M) -> Result<(), MeshError> {
        if to == self.shared.index {
            let handler = Rc::clone(&self.shared.handler);
            let from = self.shared.index;
            let mesh = self.clone();
            spawn_detached(async move { handler(&mesh, from, value) });
            return Ok(());
        }
        let sender = self.shared.senders.get(to).and_then(Option::as_ref).ok_or(MeshError::NoSuchCore(to))?;
        sender.send(value).await.map_err(|_| MeshError::Closed(to))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    enum Ping {
        Ping(u32),
        Pong(u32),
    }

    /// Every core pings every core (itself included) many times and counts the pongs.
    #[test]
    fn all_pairs_round_trip() {
        const CORES: usize = 3;
        const PINGS: u32 = 500;
        let pongs = Arc::new(AtomicUsize::new(0));
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        let pongs_in = Arc::clone(&pongs);
        run(&config, mesh::<Ping>(CORES), move |_, seed| {
            let pongs = Arc::clone(&pongs_in);
            async move {
                let received = Rc::new(std::cell::Cell::new(0u32));
                let received_in = Rc::clone(&received);
                let mesh = seed
                    .connect(move |mesh, from, value| match value {
                        Ping::Ping(n) => {
                            let mesh = mesh.clone();
                            spawn_detached(async move { mesh.send(from, Ping::Pong(n)).await.unwrap() });
                        }
                        Ping::Pong(n) => {
                            assert!(n < PINGS);
                            received_in.set(received_in.get() + 1);
                        }
                    })
                    .await;
                for n in 0..PINGS {
                    for to in 0..CORES {
                        mesh.send(to, Ping::Ping(n)).await.unwrap();
                    }
                }
                while received.get() < PINGS * CORES as u32 {
                    crate::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                pongs.fetch_add(received.get() as usize, Ordering::SeqCst);
                // Keep serving pings from slower cores for a moment before leaving.
                crate::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
        .unwrap();
        assert_eq!(pongs.load(Ordering::SeqCst), CORES * CORES * PINGS as usize);
    }

    #[test]
    fn unknown_core_is_an_error() {
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, mesh::<u8>(1), |_, seed| async move {
            let mesh = seed.connect(|_, _, _| {}).await;
            assert_eq!(mesh.send(5, 1).await, Err(MeshError::NoSuchCore(5)));
        })
        .unwrap();
    }
}
