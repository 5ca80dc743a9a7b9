/* Shared includes for the hostile C programs: each file holds one SCHED_CLS program that
 * clang compiles but the kernel verifier refuses; its first line says what our verifier's
 * message must contain. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";
