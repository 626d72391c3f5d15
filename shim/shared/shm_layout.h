/* The shared region's layout (shm_stack.h): a header, the per-socket
 * holder and interest masks, then the heap core allocates the stack from.
 * Every field is an offset or an index: processes map the region at
 * different addresses. The version changes with any change here; a
 * process finding another version refuses the stack (EPROTO) rather than
 * misread it. */
#ifndef SYNACK_SHIM_SHARED_SHM_LAYOUT_H
#define SYNACK_SHIM_SHARED_SHM_LAYOUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../core/sk_time.h"
#include "shm_stack.h"

#define SHM_MAGIC 0x6b63616e79735f31ull /* "1_synack" */
/* The layout's version: bumped by any change of the region or of core's
 * state in it (5: EPOLLEXCLUSIVE interest; 6: the socket arena is set up
 * slot by slot, core/tcp.h hwm, and the slots' rings are apart; 7: the
 * TIME_WAIT table). */
#define SHM_VERSION 8u
/* The first layout whose processes hold a flock on the object
 * (remove_stale_stacks): older objects are not judged by it. */
#define SHM_VERSION_FLOCK 3u

#define SHM_MASK_WORDS (SHM_MAX_PROCS / 64)
/* Sockets queued for one process's wake-up before it is told to look at
 * everything (wake_overflow). */
#define SHM_WAKE_RING 256u
/* State changes queued for the process whose socket changed state, when
 * another process's call made the change (SYNACK_TRACE=states prints the
 * trace of a process's own connections: shm_trace_route). */
#define SHM_TRACE_RING 64u

/* Virtual size of the region: pages are used only when touched. */
#define SHM_REGION_MIN (64ull << 20)
#define SHM_REGION_MAX (8ull << 30)

enum shm_state { SHM_INIT = 0, SHM_READY, SHM_REMOVED, SHM_BROKEN };
enum shm_proc_state { SHM_PROC_FREE = 0, SHM_PROC_FORKING, SHM_PROC_LIVE };

/* A state change on its way to the process that traces it: the cause is
 * copied (ev.cause points into the library of the process that made it). */
struct shm_trace_ev {
	struct sk_state_change ev;
	char cause[48];
};

struct shm_proc {
	uint32_t state;      /* enum shm_proc_state */
	int32_t pid;         /* 0 while a FORKING slot waits for its child */
	uint64_t start_time; /* /proc/<pid>/stat field 22: a reused pid is another process */
	uint64_t token;      /* this attach (sk_stack_bind's owner, the wake address) */
	sk_time_t reserved_at;
	bool keeper; /* keeper.c: holds the stack after the last process left */
	/* Sockets other processes made ready for this one (shm_wake_others). */
	uint32_t wake_signaled; /* a datagram is on its way */
	uint32_t wake_overflow; /* the ring overflowed: look at everything */
	uint32_t wake_head, wake_tail; /* of its shm_rings' wake ring */
	/* SYNACK_TRACE=states of this process, and its queue (shm_rings). */
	bool trace_states;
	uint32_t trace_head, trace_tail, trace_lost;
	/* The process waits in synack or has epoll sets, so it takes in
	 * frames, and when it last did: an idle process leaves the packet
	 * socket to it (shm_reader_elsewhere). */
	bool reads;
	sk_time_t read_at;
};

/* A slot's rings, apart from its fields: every scan of the slots reads
 * the fields, and with 7.7 KB of rings in each slot every read touched a
 * page of its own (256 page faults, 0.7 ms, at every new stack). A ring's
 * pages are touched when it is first used. */
struct shm_rings {
	uint32_t wake[SHM_WAKE_RING];
	struct shm_trace_ev trace[SHM_TRACE_RING];
};

/* Per core socket. */
struct shm_sock {
	uint64_t refs[SHM_MASK_WORDS];     /* processes holding it (fds) */
	uint64_t interest[SHM_MASK_WORDS]; /* processes waiting on it */
	/* Processes watching it with EPOLLEXCLUSIVE: one of them is woken
	 * (those also in interest are woken anyway), in turn. */
	uint64_t excl[SHM_MASK_WORDS];
	uint32_t excl_turn;
	/* The process whose socket it is (slot + 1; 0: none yet): the last
	 * one to take it, or for a connection not accepted yet its
	 * listener's. Its trace reports the socket's state changes. */
	int32_t owner_plus1;
};

struct shm_header {
	uint64_t magic;
	uint32_t version;
	_Atomic uint32_t state; /* enum shm_state */
	uint64_t region_size;
	uint64_t stack_id; /* random: names the wake sockets */
	int32_t creator_pid;
	pthread_mutex_t lock; /* the stack lock: process-shared, robust */
	/* What every process of the stack must agree on (check_identity). */
	uint32_t addr, gateway;
	uint8_t prefix_len;
	uint32_t max_sockets;
	uint64_t stack_off, socks_off, heap_off;
	uint64_t next_token;         /* per attach */
	uint64_t bound_token;        /* whose bindings the stack holds (sk_stack_bind) */
	uint32_t procs_gen;          /* bumped when a slot changes */
	uint16_t fanout_id;          /* PACKET_FANOUT group of the processes' packet sockets */
	_Atomic uint32_t recoveries; /* lock holders that died, stack repaired */
	char broken_why[160];
	struct shm_proc procs[SHM_MAX_PROCS];
	struct shm_rings rings[SHM_MAX_PROCS];
};

struct shm_header *shm_header(void);
int shm_my_slot(void);
uint64_t shm_proc_start_time(pid_t pid);

#endif
