//! A bounded multi-producer, single-consumer channel for tasks on one core: an actor's
//! inbox. Senders wait while it is full (backpressure instead of unbounded memory); the
//! receiver can take everything queued at once, which is what group commit needs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    receiver_waker: Option<Waker>,
    sender_wakers: Vec<Waker>,
    receiver_alive: bool,
    senders: usize,
}

/// Sending half; clone freely.
pub struct Sender<T> {
    state: Rc<RefCell<State<T>>>,
}

/// Receiving half.
pub struct Receiver<T> {
    state: Rc<RefCell<State<T>>>,
}

/// The receiver is gone; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed<T>(pub T);

/// A channel holding at most `capacity` values (at least 1).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let state = Rc::new(RefCell::new(State {
        queue: VecDeque::new(),
        capacity: capacity.max(1),
        receiver_waker: None,
        sender_wakers: Vec::new(),
        receiver_alive: true,
        senders: 1,
    }));
    (Sender { state: Rc::clone(&state) }, Receiver { state })
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.state.borrow_mut().senders += 1;
        Sender { state: Rc::clone(&self.state) }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        state.senders -= 1;
        if state.senders == 0
            && let Some(waker) = state.receiver_waker.take()
        {
            waker.wake();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        state.receiver_alive = false;
        for waker in state.sender_wakers.drain(..) {
            waker.wake();
        }
    }
}

impl<T> Sender<T> {
    /// Queues `value`, waiting while the channel is full.
    pub async fn send(&self, value: T) -> Result<(), Closed<T>> {
        let mut value = Some(value);
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if !state.receiver_alive {
                return Poll::Ready(Err(Closed(value.take())));
            }
            if state.queue.len() >= state.capacity {
                state.sender_wakers.push(cx.waker().clone());
                return Poll::Pending;
            }
            if let Some(value) = value.take() {
                state.queue.push_back(value);
            }
            if let Some(waker) = state.receiver_waker.take() {
                waker.wake();
            }
            Poll::Ready(Ok(()))
        })
        .await
        .map_err(|Closed(value)| Closed(value.unwrap_or_else(|| unreachable!("value taken only on success"))))
    }

    /// Whether the receiver still exists.
    pub fn is_open(&self) -> bool {
        self.state.borrow().receiver_alive
    }
}

impl<T> Receiver<T> {
    /// The next value, or `None` once every sender is gone and the queue is empty.
    pub async fn recv(&self) -> Option<T> {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if let Some(value) = state.queue.pop_front() {
                wake_one_sender(&mut state);
                return Poll::Ready(Some(value));
            }
            if state.senders == 0 {
                return Poll::Ready(None);
            }
            state.receiver_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Takes up to `max` queued values without waiting.
    pub fn drain_into(&self, out: &mut Vec<T>, max: usize) {
        let mut state = self.state.borrow_mut();
        let take = state.queue.len().min(max);
        out.extend(state.queue.drain(..take));
        for _ in 0..take {
            wake_one_sender(&mut state);
        }
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.state.borrow().queue.is_empty()
    }
}

fn wake_one_sender<T>(state: &mut State<T>) {
    if let Some(waker) = state.sender_wakers.pop() {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn values_arrive_in_order_and_drain_takes_many() {
        block_on(async {
            let (tx, rx) = channel(8);
            for i in 0..5 {
                tx.send(i).await.unwrap();
            }
            assert_eq!(rx.recv().await, Some(0));
            let mut rest = Vec::new();
            rx.drain_into(&mut rest, 3);
            assert_eq!(rest, vec![1, 2, 3]);
            drop(tx);
            assert_eq!(rx.recv().await, Some(4));
            assert_eq!(rx.recv().await, None);
        });
    }

    #[test]
    fn full_channel_makes_sender_wait() {
        block_on(async {
            let (tx, rx) = channel(1);
            tx.send(1).await.unwrap();
            let waiting = futures_lite::future::poll_once(tx.send(2)).await;
            assert!(waiting.is_none(), "second send must wait");
            assert_eq!(rx.recv().await, Some(1));
            tx.send(2).await.unwrap();
            assert_eq!(rx.recv().await, Some(2));
        });
    }

    #[test]
    fn send_after_receiver_dropped_returns_value() {
        block_on(async {
            let (tx, rx) = channel(1);
            drop(rx);
            assert_eq!(tx.send(9).await, Err(Closed(9)));
            assert!(!tx.is_open());
        });
    }
}
