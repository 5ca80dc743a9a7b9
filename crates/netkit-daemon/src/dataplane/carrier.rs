//! Carrier follows both ends (netkit_open/netkit_close): a thread watches the admin state of
//! the two devices through link notifications in their namespaces, tells the model, and sets
//! carrier on both only while both are up. An end deleted from outside takes the other with it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

use netkit_io::netns::NsId;
use netkit_io::poll::{wait_readable, Waker};
use netkit_io::rtnl::{LinkEvent, LinkMonitor};
use netkit_io::tun::TunDevice;

use super::model::{DevRef, PacketPath};
use super::Error;

/// One end as the watcher sees it.
pub(super) struct End {
    pub dev: DevRef,
    pub tun: Arc<TunDevice>,
    pub nsid: NsId,
}

/// What the watcher is told (stop) and tells (an end deleted or moved from outside).
struct Flags<'a> {
    stop: &'a AtomicBool,
    deleted: &'a AtomicBool,
    moved: &'a [AtomicU64; 2],
}

struct State {
    up: [bool; 2],
    carrier: Option<bool>,
}

pub(super) fn spawn<P: PacketPath>(
    path: Arc<P>,
    ends: [End; 2],
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    deleted: Arc<AtomicBool>,
    moved: Arc<[AtomicU64; 2]>,
) -> Result<JoinHandle<()>, Error> {
    // Subscribe before reading the initial state so no change falls in between.
    let mut monitors = vec![(ends[0].nsid, ends[0].tun.netns().run(LinkMonitor::open)?)];
    if ends[1].nsid != ends[0].nsid {
        monitors.push((ends[1].nsid, ends[1].tun.netns().run(LinkMonitor::open)?));
    }
    let mut up = [false; 2];
    for (i, end) in ends.iter().enumerate() {
        let ifindex = end.tun.ifindex();
        up[i] = end.tun.rtnl(move |r| r.link(ifindex))?.is_up();
    }
    let mut state = State { up, carrier: None };
    apply(&*path, &ends, &mut state);
    let handle = std::thread::Builder::new()
        .name(format!("nk-carrier-{}", ends[0].tun.name()))
        .spawn(move || {
            let flags = Flags {
                stop: &stop,
                deleted: &deleted,
                moved: &moved,
            };
            watch(&*path, &ends, monitors, &mut state, &waker, flags)
        })
        .map_err(|e| Error::Spawn(e.to_string()))?;
    Ok(handle)
}

fn apply<P: PacketPath>(path: &P, ends: &[End; 2], state: &mut State) {
    for (end, up) in ends.iter().zip(state.up) {
        path.set_admin_up(end.dev, up);
    }
    let carrier = state.up[0] && state.up[1];
    if state.carrier != Some(carrier) {
        // Best effort: a failure here means the device is being deleted, which the
        // notifications report next.
        let _ = ends[0].tun.set_carrier(carrier);
        let _ = ends[1].tun.set_carrier(carrier);
        state.carrier = Some(carrier);
    }
}

/// True when `end`'s device still exists (our queue is still attached) after a deletion
/// notification: it moved to another namespace.
fn moved_away(end: &End) -> bool {
    end.tun
        .queues()
        .first()
        .is_some_and(|q| q.attached_name().is_ok())
}

fn watch<P: PacketPath>(
    path: &P,
    ends: &[End; 2],
    mut monitors: Vec<(NsId, LinkMonitor)>,
    state: &mut State,
    waker: &Waker,
    flags: Flags<'_>,
) {
    let Flags {
        stop,
        deleted,
        moved,
    } = flags;
    let mut ready = [false; 3];
    while !stop.load(Relaxed) {
        let mut fds: Vec<_> = monitors.iter().map(|(_, m)| m.as_fd()).collect();
        fds.push(waker.as_fd());
        if wait_readable(&fds, -1, &mut ready).is_err() {
            return;
        }
        drop(fds);
        let mut gone = None;
        for (nsid, mon) in monitors.iter_mut() {
            let Ok(events) = mon.drain() else { continue };
            for ev in events {
                for (i, end) in ends.iter().enumerate() {
                    if end.nsid != *nsid {
                        continue;
                    }
                    match &ev {
                        LinkEvent::Changed(st) if st.ifindex == end.tun.ifindex() => {
                            state.up[i] = st.is_up()
                        }
                        LinkEvent::Deleted { ifindex, .. } if *ifindex == end.tun.ifindex() => {
                            gone = Some(i)
                        }
                        LinkEvent::Overrun => {
                            let ifindex = end.tun.ifindex();
                            match end.tun.rtnl(move |r| r.link(ifindex)) {
                                Ok(st) => state.up[i] = st.is_up(),
                                Err(_) => gone = Some(i),
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some(i) = gone.filter(|i| moved_away(&ends[*i])) {
            // Moved to another namespace (`ip link set DEV netns NS`): as in the kernel the
            // move closed it, so carrier goes off; its later admin changes happen where this
            // watcher does not look: the daemon learns where it went and restarts the pair
            // there (or, where it cannot follow, the pair stays without carrier).
            if let Ok(ns) = ends[i].tun.current_netns() {
                moved[i].store(ns.0, Relaxed);
            }
            state.up[i] = false;
            apply(path, ends, state);
            continue;
        }
        if let Some(i) = gone {
            // netkit: deleting either end deletes both.
            let other = &ends[1 - i];
            let ifindex = other.tun.ifindex();
            let _ = other.tun.set_persist(false);
            let _ = other.tun.rtnl(move |r| r.delete(ifindex));
            state.up = [false, false];
            apply(path, ends, state);
            deleted.store(true, Relaxed);
            return;
        }
        apply(path, ends, state);
    }
}
