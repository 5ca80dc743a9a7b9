// vhost_relay: the TUN relay of crates/netkit-io/examples/tun_relay.rs, but the packets cross
// through vhost-net instead of read()/write(). Two TUN devices (IFF_TUN|IFF_NO_PI|IFF_VNET_HDR,
// 12-byte virtio-net header, CSUM|TSO4|TSO6), one per namespace; one /dev/vhost-net fd per TUN;
// split virtqueues in one mmap of ours (guest address = user address). A frame the kernel put
// in TUN A's rx ring is handed, in the same buffer (no copy), to TUN B's tx ring; once B's
// worker has sent it, the buffer goes back on A's rx ring. Same for B -> A.
//
// Usage (root): vhost_relay HOST_NS POD_NS HOST_DEV POD_DEV [poll|spin|rw|rwspin] [BUSYLOOP_US]
//   poll: sleep on the call eventfds while no ring has work;
//   spin: never sleep, interrupts suppressed (VRING_AVAIL_F_NO_INTERRUPT);
//   rw, rwspin: the read()/write() relay (tun_relay's loop), for the same-binary baseline;
//   BUSYLOOP_US: VHOST_SET_VRING_BUSYLOOP_TIMEOUT on every ring (vhost worker busy-polls).
// Namespaces are named (/run/netns/NAME). Prints "ready" once both devices exist.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define QSIZE 256u             // descriptors per virtqueue
#define BUFSZ (68u * 1024u)    // a 64 KiB GSO frame plus its header
#define VNET_HDR 12            // virtio_net_hdr_mrg_rxbuf, as the daemon uses
#define RX 0
#define TX 1

static void die(const char *what) {
    fprintf(stderr, "vhost_relay: %s: %s\n", what, strerror(errno));
    exit(1);
}

// One split virtqueue, laid out in our memory.
struct vq {
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t avail_idx;   // next avail slot we fill
    uint16_t used_seen;   // used entries already consumed
    int kick, call;       // eventfds: we -> vhost, vhost -> us
};

struct dev {
    int tun, vhost;
    struct vq q[2];
};

static uint8_t *arena;
static size_t arena_used, arena_size;

static void *carve(size_t n) {
    size_t at = (arena_used + 4095) & ~(size_t)4095;
    if (at + n > arena_size) {
        fprintf(stderr, "vhost_relay: arena too small\n");
        exit(1);
    }
    arena_used = at + n;
    return arena + at;
}

static int open_tun(const char *ns, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    int self = open("/proc/self/ns/net", O_RDONLY);
    int target = open(path, O_RDONLY);
    if (self < 0 || target < 0) die(path);
    // The TUN belongs to the namespace current at TUNSETIFF; the fd keeps working from here.
    if (setns(target, CLONE_NEWNET) < 0) die("setns");
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
    if (fd < 0) die("/dev/net/tun");
    struct ifreq ifr = {0};
    ifr.ifr_flags = (getenv("VHOST_RELAY_TAP") ? IFF_TAP : IFF_TUN) | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
    int hdr = VNET_HDR;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) die("TUNSETVNETHDRSZ");
    if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) die("TUNSETOFFLOAD");
    // vhost-net batches small tx frames as XDP buffers whenever the socket's sndbuf is
    // unlimited (TUN's default), and that path parses every frame as Ethernet: an IFF_TUN
    // device then drops them all. A finite sndbuf sends frame by frame (tun_get_user), which
    // knows L3 frames.
    const char *sndbuf = getenv("VHOST_RELAY_SNDBUF");
    if (sndbuf) {
        int sb = atoi(sndbuf);
        if (ioctl(fd, TUNSETSNDBUF, &sb) < 0) die("TUNSETSNDBUF");
    }
    if (setns(self, CLONE_NEWNET) < 0) die("setns back");
    close(self);
    close(target);
    return fd;
}

static void vq_init(struct vq *q) {
    q->desc = carve(sizeof(struct vring_desc) * QSIZE);
    q->avail = carve(sizeof(struct vring_avail) + sizeof(uint16_t) * (QSIZE + 1));
    q->used = carve(sizeof(struct vring_used) + sizeof(struct vring_used_elem) * QSIZE + 2);
    q->kick = eventfd(0, EFD_NONBLOCK);
    q->call = eventfd(0, EFD_NONBLOCK);
    if (q->kick < 0 || q->call < 0) die("eventfd");
}

static void vhost_setup(struct dev *d, uint64_t busyloop_us, int spin) {
    d->vhost = open("/dev/vhost-net", O_RDWR);
    if (d->vhost < 0) die("/dev/vhost-net");
    if (ioctl(d->vhost, VHOST_SET_OWNER) < 0) die("VHOST_SET_OWNER");
    uint64_t have;
    if (ioctl(d->vhost, VHOST_GET_FEATURES, &have) < 0) die("VHOST_GET_FEATURES");
    uint64_t want = 1ull << VIRTIO_F_VERSION_1;
    if ((have & want) != want) {
        fprintf(stderr, "vhost_relay: vhost lacks VIRTIO_F_VERSION_1 (0x%llx)\n",
                (unsigned long long)have);
        exit(1);
    }
    if (ioctl(d->vhost, VHOST_SET_FEATURES, &want) < 0) die("VHOST_SET_FEATURES");
    struct {
        struct vhost_memory m;
        struct vhost_memory_region r;
    } mem = {0};
    mem.m.nregions = 1;
    mem.r.guest_phys_addr = (uintptr_t)arena;
    mem.r.userspace_addr = (uintptr_t)arena;
    mem.r.memory_size = arena_size;
    if (ioctl(d->vhost, VHOST_SET_MEM_TABLE, &mem) < 0) die("VHOST_SET_MEM_TABLE");
    for (unsigned i = 0; i < 2; i++) {
        struct vq *q = &d->q[i];
        vq_init(q);
        if (spin) q->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
        struct vhost_vring_state num = {.index = i, .num = QSIZE};
        if (ioctl(d->vhost, VHOST_SET_VRING_NUM, &num) < 0) die("VHOST_SET_VRING_NUM");
        struct vhost_vring_state base = {.index = i, .num = 0};
        if (ioctl(d->vhost, VHOST_SET_VRING_BASE, &base) < 0) die("VHOST_SET_VRING_BASE");
        struct vhost_vring_addr addr = {
            .index = i,
            .desc_user_addr = (uintptr_t)q->desc,
            .avail_user_addr = (uintptr_t)q->avail,
            .used_user_addr = (uintptr_t)q->used,
        };
        if (ioctl(d->vhost, VHOST_SET_VRING_ADDR, &addr) < 0) die("VHOST_SET_VRING_ADDR");
        struct vhost_vring_file kick = {.index = i, .fd = q->kick};
        if (ioctl(d->vhost, VHOST_SET_VRING_KICK, &kick) < 0) die("VHOST_SET_VRING_KICK");
        struct vhost_vring_file call = {.index = i, .fd = q->call};
        if (ioctl(d->vhost, VHOST_SET_VRING_CALL, &call) < 0) die("VHOST_SET_VRING_CALL");
        if (busyloop_us) {
            struct vhost_vring_state bl = {.index = i, .num = (unsigned)busyloop_us};
            if (ioctl(d->vhost, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &bl) < 0)
                die("VHOST_SET_VRING_BUSYLOOP_TIMEOUT");
        }
    }
}

static void backend(struct dev *d) {
    for (unsigned i = 0; i < 2; i++) {
        struct vhost_vring_file b = {.index = i, .fd = d->tun};
        if (ioctl(d->vhost, VHOST_NET_SET_BACKEND, &b) < 0) die("VHOST_NET_SET_BACKEND");
    }
}

static void publish(struct vq *q) {
    __atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

// Kicks unless the worker said it is polling the ring anyway. The fence orders our avail->idx
// store before the read of used->flags, against the worker's mirror-image sequence.
static void kick(struct vq *q) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!(__atomic_load_n(&q->used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY)) {
        uint64_t one = 1;
        if (write(q->kick, &one, sizeof one) < 0 && errno != EAGAIN) die("kick");
    }
}

// Gives every rx descriptor of `d` one buffer; descriptor i of d's rx ring and descriptor i of
// the peer's tx ring always carry the same buffer, so handing a frame across is one index.
static void fill_rx(struct dev *d, struct dev *peer) {
    struct vq *rx = &d->q[RX];
    for (unsigned i = 0; i < QSIZE; i++) {
        uint8_t *buf = carve(BUFSZ);
        rx->desc[i] = (struct vring_desc){
            .addr = (uintptr_t)buf, .len = BUFSZ, .flags = VRING_DESC_F_WRITE};
        peer->q[TX].desc[i] = (struct vring_desc){.addr = (uintptr_t)buf, .len = 0};
        rx->avail->ring[rx->avail_idx++ % QSIZE] = i;
    }
    publish(rx);
}

// Frames received by `from` go to `to`'s tx ring; buffers `to` has sent go back on `from`'s rx
// ring. True when anything moved.
static int relay(struct dev *from, struct dev *to) {
    struct vq *rx = &from->q[RX], *tx = &to->q[TX];
    int moved = 0;
    uint16_t end = __atomic_load_n(&rx->used->idx, __ATOMIC_ACQUIRE);
    if (end != rx->used_seen) {
        for (; rx->used_seen != end; rx->used_seen++) {
            struct vring_used_elem e = rx->used->ring[rx->used_seen % QSIZE];
            tx->desc[e.id].len = e.len;
            tx->avail->ring[tx->avail_idx++ % QSIZE] = (uint16_t)e.id;
        }
        publish(tx);
        kick(tx);
        moved = 1;
    }
    end = __atomic_load_n(&tx->used->idx, __ATOMIC_ACQUIRE);
    if (end != tx->used_seen) {
        for (; tx->used_seen != end; tx->used_seen++) {
            uint32_t id = tx->used->ring[tx->used_seen % QSIZE].id;
            rx->avail->ring[rx->avail_idx++ % QSIZE] = (uint16_t)id;
        }
        publish(rx);
        kick(rx);
        moved = 1;
    }
    return moved;
}

static void drain(int fd) {
    uint64_t n;
    while (read(fd, &n, sizeof n) > 0) {
    }
}

// With VHOST_RELAY_DEBUG set, prints every ring's indices once a second (poll mode).
static void show(const char *name, struct dev *d) {
    for (int i = 0; i < 2; i++) {
        struct vq *q = &d->q[i];
        fprintf(stderr, "%s %s: avail %u used %u (seen %u) used.flags %u\n", name, i ? "tx" : "rx",
                q->avail_idx, __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE), q->used_seen,
                q->used->flags);
    }
}

static void run_vhost(struct dev *a, struct dev *b, int spin) {
    int debug = getenv("VHOST_RELAY_DEBUG") != NULL;
    struct pollfd p[4];
    int fds[4] = {a->q[RX].call, a->q[TX].call, b->q[RX].call, b->q[TX].call};
    for (int i = 0; i < 4; i++) p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    for (;;) {
        int moved = relay(a, b) | relay(b, a);
        if (!moved && !spin) {
            // Interrupts stay enabled in poll mode: a used entry added after the scan above
            // signals a call eventfd, so this poll cannot miss it.
            int n = poll(p, 4, debug ? 1000 : -1);
            if (n < 0 && errno != EINTR) die("poll");
            if (n == 0) {
                show("host", a);
                show("pod", b);
            }
            for (int i = 0; i < 4; i++)
                if (p[i].revents) drain(p[i].fd);
        }
    }
}

// tun_relay's loop: read a frame, write it to the other side, up to 32 before switching.
static int rw_move(int from, int to, uint8_t *buf) {
    for (int i = 0; i < 32; i++) {
        ssize_t n = read(from, buf, BUFSZ);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return i > 0;
            die("read");
        }
        (void)!write(to, buf, (size_t)n);  // a full queue drops, as the kernel's TUN does
    }
    return 1;
}

static void run_rw(int a, int b, int spin) {
    static uint8_t buf[BUFSZ];
    struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    for (;;) {
        int moved = rw_move(a, b, buf) | rw_move(b, a, buf);
        if (!moved && !spin && poll(p, 2, -1) < 0 && errno != EINTR) die("poll");
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: vhost_relay HOST_NS POD_NS HOST_DEV POD_DEV "
                        "[poll|spin|rw|rwspin] [BUSYLOOP_US]\n");
        return 2;
    }
    const char *mode = argc > 5 ? argv[5] : "poll";
    uint64_t busyloop = argc > 6 ? strtoull(argv[6], NULL, 10) : 0;
    int spin = !strcmp(mode, "spin") || !strcmp(mode, "rwspin");
    int rw = !strncmp(mode, "rw", 2);
    if (!rw && !spin && strcmp(mode, "poll")) {
        fprintf(stderr, "vhost_relay: mode %s: expected poll, spin, rw or rwspin\n", mode);
        return 2;
    }
    struct dev a = {.tun = open_tun(argv[1], argv[3])};
    struct dev b = {.tun = open_tun(argv[2], argv[4])};
    if (rw) {
        printf("ready\n");
        fflush(stdout);
        run_rw(a.tun, b.tun, spin);
    }
    arena_size = 2 * (size_t)QSIZE * BUFSZ + (1u << 20);
    arena = mmap(NULL, arena_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
    if (arena == MAP_FAILED) die("mmap");
    vhost_setup(&a, busyloop, spin);
    vhost_setup(&b, busyloop, spin);
    fill_rx(&a, &b);
    fill_rx(&b, &a);
    backend(&a);
    backend(&b);
    kick(&a.q[RX]);
    kick(&b.q[RX]);
    printf("ready\n");
    fflush(stdout);
    run_vhost(&a, &b, spin);
}
