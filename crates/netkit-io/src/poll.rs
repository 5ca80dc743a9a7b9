//! Waiting for readiness: the dataplane's workers sleep in `poll` on a queue and a [`Waker`].

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::{sys, Error, Result};

/// An eventfd that wakes threads polling it (to stop workers blocked on an idle queue).
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> Result<Waker> {
        Ok(Waker {
            fd: sys::eventfd().map_err(|e| Error::os("eventfd", e))?,
        })
    }

    /// Makes the waker readable for good (it is never drained): every poller wakes now and
    /// on every later poll.
    pub fn wake(&self) -> Result<()> {
        sys::eventfd_signal(self.fd.as_fd()).map_err(|e| Error::os("eventfd write", e))
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Blocks until one of `fds` (at most 4) is readable or `timeout_ms` passes (-1: forever);
/// `ready[i]` tells whether `fds[i]` is. EINTR counts as a wake-up with nothing ready.
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout_ms: i32, ready: &mut [bool]) -> Result<()> {
    ready.iter_mut().for_each(|r| *r = false);
    match sys::poll_readable(fds, timeout_ms, ready) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(Error::os("poll", e)),
    }
}

/// Gives the calling thread real-time (SCHED_FIFO) priority `priority`, so that it runs as
/// soon as a packet wakes it, the way the kernel's softirq would process it. The kernel's RT
/// throttling still leaves other tasks a share of the CPU if a worker never sleeps.
pub fn set_realtime(priority: i32) -> Result<()> {
    if !(1..=99).contains(&priority) {
        return Err(Error::Invalid(format!(
            "real-time priority {priority}: must be 1..=99"
        )));
    }
    sys::set_fifo_priority(priority).map_err(|e| Error::os("sched_setscheduler(SCHED_FIFO)", e))
}
