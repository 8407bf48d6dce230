//! A bounded channel between threads (the core mesh's per-pair channels): a queue under a
//! mutex, the receiver's waker and the wakers of senders waiting for room. A waker from
//! another core reaches its task through that core's remote queue (see
//! [`crate::scheduler`]), so a busy receiver takes values with no system call.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

struct Channel<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    receiver: Option<Waker>,
    /// Senders waiting for room (several tasks of one core may send at once).
    senders: Vec<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

impl<T> Channel<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every update leaves the state consistent; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending end; dropping it ends the receiver's stream once drained.
pub(crate) struct Sender<T> {
    channel: Arc<Channel<T>>,
}

/// The receiving end; dropping it makes sends fail.
pub(crate) struct Receiver<T> {
    channel: Arc<Channel<T>>,
}

/// A channel holding at most `capacity` values (at least one).
pub(crate) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let channel = Arc::new(Channel {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            receiver: None,
            senders: Vec::new(),
            sender_gone: false,
            receiver_gone: false,
        }),
    });
    (Sender { channel: Arc::clone(&channel) }, Receiver { channel })
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full; gives it back if the receiver is
    /// gone.
    pub(crate) async fn send(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        std::future::poll_fn(|cx| {
            let mut state = self.channel.lock();
            let Some(item) = value.take() else { return Poll::Ready(Ok(())) };
            if state.receiver_gone {
                return Poll::Ready(Err(item));
            }
            if state.queue.len() < state.capacity {
                state.queue.push_back(item);
                let receiver = state.receiver.take();
                drop(state);
                if let Some(receiver) = receiver {
                    receiver.wake();
                }
                return Poll::Ready(Ok(()));
            }
            value = Some(item);
            if !state.senders.iter().any(|waiting| waiting.will_wake(cx.waker())) {
                state.senders.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let receiver = {
            let mut state = self.channel.lock();
            state.sender_gone = true;
            state.receiver.take()
        };
        if let Some(receiver) = receiver {
            receiver.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next value; `None` once the sender is gone and the queue is empty.
    pub(crate) async fn recv(&self) -> Option<T> {
        std::future::poll_fn(|cx| {
            let mut state = self.channel.lock();
            if let Some(value) = state.queue.pop_front() {
                let senders = std::mem::take(&mut state.senders);
                drop(state);
                senders.into_iter().for_each(Waker::wake);
                return Poll::Ready(Some(value));
            }
            if state.sender_gone {
                return Poll::Ready(None);
            }
            match &state.receiver {
                Some(waiting) if waiting.will_wake(cx.waker()) => {}
                _ => state.receiver = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (senders, queued) = {
            let mut state = self.channel.lock();
            state.receiver_gone = true;
            (std::mem::take(&mut state.senders), std::mem::take(&mut state.queue))
        };
        // Values never received are dropped here, outside the lock.
        drop(queued);
        senders.into_iter().for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};
    use std::time::Duration;

    /// A full channel makes the sender wait until the receiver takes a value (across
    /// threads: the receiver is a plain thread here); a gone receiver fails the send and
    /// gives the value back; a gone sender ends the stream after what it queued.
    #[test]
    fn full_waits_gone_receiver_fails_gone_sender_ends() {
        let (sender, receiver) = bounded::<u32>(1);
        let (done_sender, done_receiver) = bounded::<u32>(4);
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let first = futures_lite::future::block_on(receiver.recv());
            let second = futures_lite::future::block_on(receiver.recv());
            drop(receiver);
            (first, second)
        });
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        let slot = std::sync::Mutex::new(Some((sender, done_sender)));
        run(&config, vec![()], move |_, ()| {
            let (sender, done_sender) = slot.lock().unwrap().take().unwrap();
            async move {
                sender.send(1).await.unwrap();
                let started = std::time::Instant::now();
                // Full: waits for the reader's first recv (after its 50 ms sleep).
                sender.send(2).await.unwrap();
                assert!(started.elapsed() >= Duration::from_millis(30));
                while crate::time::timeout(Duration::from_millis(5), sender.send(3))
                    .await
                    .is_ok_and(|r| r.is_ok())
                {}
                assert_eq!(crate::time::timeout(Duration::from_secs(5), sender.send(4)).await, Ok(Err(4)));
                done_sender.send(9).await.unwrap();
            }
        })
        .unwrap();
        assert_eq!(reader.join().unwrap(), (Some(1), Some(2)));
        let drained = futures_lite::future::block_on(async {
            let mut values = Vec::new();
            while let Some(value) = done_receiver.recv().await {
                values.push(value);
            }
            values
        });
        assert_eq!(drained, vec![9]);
    }
}
