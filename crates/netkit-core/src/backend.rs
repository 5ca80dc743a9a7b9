//! One API over the user-space model and the real kernel.

use crate::error::Error;
use crate::types::*;

/// The operations a netkit implementation offers. Every method returns the errno the kernel
/// returns for the same request, checked in the kernel's order.
pub trait Backend {
    /// Short name for reports: "user" or "kernel".
    fn name(&self) -> &'static str;

    // --- rtnetlink ---
    fn link_add(&mut self, req: &NewLink) -> Result<Created, Error>;
    fn link_change(&mut self, ifindex: IfIndex, req: &ChangeLink) -> Result<(), Error>;
    fn link_set_up(&mut self, ifindex: IfIndex, up: bool) -> Result<(), Error>;
    fn link_set_address(&mut self, ifindex: IfIndex, address: &[u8]) -> Result<(), Error>;
    fn link_set_mtu(&mut self, ifindex: IfIndex, mtu: u32) -> Result<(), Error>;
    /// Moves a device into namespace `netns` (an `ip netns` name; `None` = the initial one).
    /// The device is brought down first, as the kernel does on a namespace move.
    fn link_set_netns(&mut self, ifindex: IfIndex, netns: Option<&str>) -> Result<(), Error> {
        let _ = (ifindex, netns);
        crate::error::fail(
            crate::error::Errno::EOPNOTSUPP,
            "this backend cannot move devices between namespaces",
        )
    }
    /// Makes later requests act as if issued from namespace `netns` (an `ip netns` name;
    /// `None` = the initial one): ifindexes and names resolve there, as they do for a process
    /// that entered it with setns(2). Ifindexes are allocated per namespace, so the same
    /// number may name different devices in different namespaces.
    fn set_netns(&mut self, netns: Option<&str>) -> Result<(), Error> {
        match netns {
            None => Ok(()),
            Some(name) => crate::error::fail(
                crate::error::Errno::EOPNOTSUPP,
                format!("this backend cannot act from namespace {name}"),
            ),
        }
    }
    fn link_del(&mut self, ifindex: IfIndex) -> Result<(), Error>;
    fn link_get(&self, ifindex: IfIndex) -> Result<LinkInfo, Error>;
    fn ifindex_by_name(&self, name: &str) -> Result<IfIndex, Error>;

    // --- bpf(2) ---
    /// Loads a SCHED_CLS program; returns its handle (fd) and id.
    fn prog_load(&mut self, src: &ProgSource) -> Result<(Handle, ProgId), Error>;
    /// Closes a program handle (the program lives on while attached).
    fn prog_close(&mut self, prog: Handle) -> Result<(), Error>;
    fn prog_attach(&mut self, req: &AttachReq) -> Result<(), Error>;
    fn prog_detach(&mut self, req: &DetachReq) -> Result<(), Error>;
    /// On ENOSPC the error is returned together with the partial result the kernel copies.
    fn prog_query(&self, req: &QueryReq) -> Result<QueryResult, (Error, Option<QueryResult>)>;
    fn link_create(&mut self, req: &LinkCreateReq) -> Result<(Handle, LinkId), Error>;
    /// BPF_LINK_UPDATE: `old` is `Some` with BPF_F_REPLACE.
    fn link_update(
        &mut self,
        link: Handle,
        new_prog: Handle,
        old: Option<Handle>,
    ) -> Result<(), Error>;
    fn link_detach(&mut self, link: Handle) -> Result<(), Error>;
    fn link_info(&self, link: Handle) -> Result<BpfLinkInfo, Error>;
    /// Closing the last handle of a link releases it (detaches it if still attached).
    fn link_close(&mut self, link: Handle) -> Result<(), Error>;

    // --- traffic, for scenarios ---
    /// Transmits `frame` (Ethernet header first) through `ifindex`'s transmit path.
    fn transmit(&mut self, ifindex: IfIndex, frame: &[u8]) -> Result<TxOutcome, Error>;
    /// [`Backend::transmit`] of a frame that carries `meta` (mark, priority) from its socket.
    fn transmit_meta(
        &mut self,
        ifindex: IfIndex,
        frame: &[u8],
        meta: TxMeta,
    ) -> Result<TxOutcome, Error> {
        if meta != TxMeta::default() {
            return crate::error::fail(
                crate::error::Errno::EOPNOTSUPP,
                "this backend cannot send frames with a mark or priority",
            );
        }
        self.transmit(ifindex, frame)
    }
}
