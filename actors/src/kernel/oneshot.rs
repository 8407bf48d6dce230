//! A single-core reply slot: one value from one sender to one receiver. Dropping the sender
//! without sending wakes the receiver with `Err(Canceled)`, so a request whose handler
//! died is answered instead of hanging.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

/// Sends the reply.
pub struct Sender<T> {
    slot: Rc<RefCell<Slot<T>>>,
}

/// Awaits the reply.
pub struct Receiver<T> {
    slot: Rc<RefCell<Slot<T>>>,
}

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canceled;

/// A new reply slot.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Rc::new(RefCell::new(Slot { value: None, waker: None, sender_gone: false }));
    (Sender { slot: Rc::clone(&slot) }, Receiver { slot })
}

impl<T> Sender<T> {
    /// Delivers the reply (dropped if the receiver is gone).
    pub fn send(self, value: T) {
        let mut slot = self.slot.borrow_mut();
        slot.value = Some(value);
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut slot = self.slot.borrow_mut();
        slot.sender_gone = true;
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, Canceled>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.borrow_mut();
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Ok(value));
        }
        if slot.sender_gone {
            return Poll::Ready(Err(Canceled));
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn reply_and_cancel() {
        let (tx, rx) = channel();
        tx.send(5);
        assert_eq!(block_on(rx), Ok(5));
        let (tx, rx) = channel::<u8>();
        drop(tx);
        assert_eq!(block_on(rx), Err(Canceled));
    }
}
