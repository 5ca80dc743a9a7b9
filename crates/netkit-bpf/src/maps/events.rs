//! Maps that carry records from programs to user space: the BPF ring buffer
//! (kernel/bpf/ringbuf.c) and the perf event array (bpf_perf_event_output).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::MapError;
use crate::mem::{self, Words};

/// Record header size on the kernel's ring; each record takes `round_up(len + 8, 8)` bytes.
const RINGBUF_HDR: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum RecState {
    Reserved,
    Committed,
    Discarded,
}

struct Rec {
    id: u64,
    state: RecState,
    data: Vec<u8>,
}

#[derive(Default)]
struct Ring {
    records: VecDeque<Rec>,
    used: usize,
    next_id: u64,
}

/// A reserved record a program is filling: submitting copies its words into the ring.
#[derive(Clone)]
pub(crate) struct RecordRef {
    ring: Arc<Mutex<Ring>>,
    id: u64,
}

impl std::fmt::Debug for RecordRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordRef({})", self.id)
    }
}

/// `BPF_MAP_TYPE_RINGBUF`: records are consumed in reservation order; a consumer stops at the
/// first record still reserved, as the kernel's consumer does.
pub struct RingBuf {
    ring: Arc<Mutex<Ring>>,
    capacity: usize,
}

fn footprint(len: usize) -> usize {
    (len + RINGBUF_HDR).div_ceil(8) * 8
}

impl RingBuf {
    pub(super) fn new(capacity: u32) -> RingBuf {
        RingBuf {
            ring: Arc::new(Mutex::new(Ring::default())),
            capacity: capacity as usize,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `bpf_ringbuf_reserve`: space for `len` bytes, or `None` when the ring is full.
    pub(crate) fn reserve(&self, len: usize) -> Option<(RecordRef, Words)> {
        let mut ring = self.lock();
        if len > self.capacity || ring.used + footprint(len) > self.capacity {
            return None;
        }
        ring.used += footprint(len);
        let id = ring.next_id;
        ring.next_id += 1;
        ring.records.push_back(Rec {
            id,
            state: RecState::Reserved,
            data: Vec::new(),
        });
        Some((
            RecordRef {
                ring: self.ring.clone(),
                id,
            },
            mem::alloc_words(len),
        ))
    }

    /// `bpf_ringbuf_output`: reserve and commit in one step.
    pub(crate) fn output(&self, data: &[u8]) -> Result<(), MapError> {
        let mut ring = self.lock();
        if data.len() > self.capacity || ring.used + footprint(data.len()) > self.capacity {
            return Err(MapError::NoSpace);
        }
        ring.used += footprint(data.len());
        let id = ring.next_id;
        ring.next_id += 1;
        ring.records.push_back(Rec {
            id,
            state: RecState::Committed,
            data: data.to_vec(),
        });
        Ok(())
    }

    /// Takes every record ready for the consumer, in order, freeing their space.
    pub fn drain(&self) -> Vec<Vec<u8>> {
        let mut ring = self.lock();
        let mut out = Vec::new();
        while let Some(front) = ring.records.front() {
            if front.state == RecState::Reserved {
                break;
            }
            let rec = ring.records.pop_front().expect("front exists");
            // A discarded record holds zeroes of its reserved length, so this frees exactly.
            ring.used -= footprint(rec.data.len());
            if rec.state == RecState::Committed {
                out.push(rec.data);
            }
        }
        out
    }

    /// Bytes of the ring in use by records not yet consumed.
    pub fn used(&self) -> usize {
        self.lock().used
    }
}

impl RecordRef {
    /// Commits (`submit`) or drops (`discard`) a reserved record with its final bytes.
    pub(crate) fn finish(&self, words: &Words, len: usize, commit: bool) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rec) = ring.records.iter_mut().find(|r| r.id == self.id) {
            let mut data = vec![0; len];
            if commit {
                mem::read_bytes(words, 0, &mut data);
            }
            rec.data = data;
            rec.state = if commit {
                RecState::Committed
            } else {
                RecState::Discarded
            };
        }
    }
}

/// A record written with `bpf_perf_event_output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerfRecord {
    /// The perf event slot (the CPU, with `BPF_F_CURRENT_CPU`).
    pub index: u32,
    pub data: Vec<u8>,
}

/// Records kept per array before further ones are counted as lost.
const PERF_MAX_RECORDS: usize = 1 << 16;

pub(crate) struct PerfArray {
    open: Vec<AtomicBool>,
    records: Mutex<Vec<PerfRecord>>,
    lost: AtomicU64,
}

impl PerfArray {
    pub fn new(max_entries: u32) -> PerfArray {
        PerfArray {
            open: (0..max_entries.min(1 << 16))
                .map(|_| AtomicBool::new(false))
                .collect(),
            records: Mutex::new(Vec::new()),
            lost: AtomicU64::new(0),
        }
    }

    pub fn open(&self, index: u32) -> Result<(), MapError> {
        let slot = self.open.get(index as usize).ok_or(MapError::Full)?;
        slot.store(true, Relaxed);
        Ok(())
    }

    /// `bpf_perf_event_output` to slot `index`: -E2BIG beyond the array, -ENOENT when no
    /// event is open there.
    pub fn output(&self, index: u32, data: Vec<u8>) -> Result<(), MapError> {
        let slot = self.open.get(index as usize).ok_or(MapError::Full)?;
        if !slot.load(Relaxed) {
            return Err(MapError::NotFound);
        }
        let mut recs = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if recs.len() >= PERF_MAX_RECORDS {
            self.lost.fetch_add(1, Relaxed);
            return Ok(());
        }
        recs.push(PerfRecord { index, data });
        Ok(())
    }

    pub fn drain(&self) -> Vec<PerfRecord> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
