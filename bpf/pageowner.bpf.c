// pageowner-top's kernel-side tracker (BCC C, loaded by pageowner_tui/sources/ebpf.py).
//
// Why this shape (measured and argued in sources/ebpf.py's module docstring):
// - page_slots: an mmapable array indexed by PFN, one u64 per base page
//   (stack row | head offset << 32 | order << 48). Frees arrive with the order *of the
//   free call*, not of the allocation (split pages freed one by one, alloc_pages_exact's
//   tail, chunked frees), so attribution is per base page: every freed page finds its
//   own stack row, whatever order the free had. 8 bytes per 4 KiB page (0.2 % of RAM),
//   no hash lookups, no locks, and user space reads a PFN range straight from the mmap.
//   User space fills every slot with ROW_PRESTART before counting starts, so a free can
//   tell "allocated before we started" (ROW_PRESTART) from "allocated since, by a path
//   that fires no mm_page_alloc" (0: bulk allocator fast path, compaction, CMA).
// - stack_counts: an mmapable array indexed by stack row (stack id + 1), holding live
//   allocations and live base pages per order (their sum is the row's pages), updated
//   with two atomic adds per event: a refresh reads this one array and nothing else.
//   Per-CPU rows would save the atomics, but they measured no faster here (uncontended
//   lock adds are cheap) and would multiply the array and every refresh's read by the
//   number of CPUs.
// - owners: an mmapable array indexed by head PFN with page_owner's per-allocation fields
//   (pid, tgid, comm, gfp, migratetype, ts, cgroup), written in place at allocation and
//   never deleted: a record is valid while the head page's slot still names the same
//   stack and order. 56 bytes per page of PFN span (page_owner's page_ext: ~72); a
//   hash keyed by PFN cost a lock, a hash and a delete per page and was the tracker's
//   largest cost after the stack (bench/ebpf_overhead). Only exports and PFN ranges read
//   it. NO_OWNERS leaves it out (counts, orders and PFNs only). ts is read from the
//   clock once per jiffy and CPU (bpf_ktime_get_ns() was a third of the record's cost),
//   so it can be up to one tick early. Measured and rejected: padding records to 64 bytes
//   (one cache line each) and keeping each page's slot and owner record in one 64-byte
//   entry (frees then touch a line per page instead of one per 8 pages: slower).
// - Order-0 allocations and frees (nearly all of them) take a straight path; the
//   per-page loop, with its state in the per-CPU walks map, is for order >= 1.
// - counters: per CPU, all counters in one value (one lookup per event), one entry per
//   program so a raw-tracepoint free nested in the alloc program cannot lose an update.
// - Nothing is counted until user space sets control[0] = 1 after both programs are
//   attached: BCC attaches the alloc program before loading the free one, and pages
//   allocated in between would otherwise look live forever.
// - Without RAW_MODE (the default): TRACEPOINT_PROBEs. RAW_MODE: raw tracepoints, after
//   a calibration of struct page * -> pfn (see sources/ebpf.py for why it is not the
//   default).
//
// Macros supplied by the loader: PFN_LIMIT, STACK_ENTRIES, STACK_DEPTH, OWNER_ENTRIES,
// MAX_ORDER_PAGES, NR_ORDERS; NO_OWNERS and RAW_MODE when configured.
// Per-program cost: bench/ebpf_program_cost (kernel run_time_ns), bench/ebpf_overhead.

#include <uapi/linux/ptrace.h>
#include <linux/sched.h>

#define ROW_NONE 0                              /* slot 0: free, or allocated unseen since start */
#define ROW_PRESTART 0xffffffffU                /* slot: not seen since the tracker started */
#define ROW_NO_STACK (STACK_ENTRIES + 1)        /* stack capture failed (-EFAULT, ...) */
#define ROW_STACK_FULL (STACK_ENTRIES + 2)      /* stack map bucket taken (-EEXIST) */
#define NR_ROWS (STACK_ENTRIES + 3)

// Counter indexes (kept in step with _COUNTER_NAMES in sources/ebpf.py).
#define C_ALLOC_EVENTS 0
#define C_FREE_EVENTS 1
#define C_FAILED_ALLOCS 2
#define C_UNTRACKED_FREE_PAGES 3
#define C_STACK_FAIL_EVENTS 4
#define C_STACK_FULL_EVENTS 5
#define C_OWNER_DROPS 6
#define C_OUT_OF_RANGE_PAGES 7
#define C_REALLOCATED_PAGES 8
#define C_ALLOC_PAGES 9
#define C_FREE_PAGES 10
#define C_UNTRACED_FREE_PAGES 11
#define NR_COUNTERS 12

// No separate page total: it is the sum of order_pages, and keeping it too cost one more
// atomic add per allocation and per free.
struct stack_count {
    s32 allocations;             // live allocation heads
    s32 order_pages[NR_ORDERS];  // live base pages by allocation order
};

struct owner {
    u64 ts;              // bpf_ktime_get_ns() at allocation (CLOCK_MONOTONIC, like page_owner)
    u64 cgroup;          // cgroup v2 id of the allocating task
    u32 row;             // stack row (stack id + 1, or ROW_NO_STACK / ROW_STACK_FULL)
    u32 gfp;
    u32 pid;
    u32 tgid;
    char comm[TASK_COMM_LEN];
    u8 order;
    u8 migratetype;          // small non-negative index (MIGRATE_TYPES)
    u16 pad0;
    u32 pad1;
};

BPF_F_TABLE("array", u32, u64, page_slots, PFN_LIMIT, BPF_F_MMAPABLE);
BPF_F_TABLE("array", u32, struct stack_count, stack_counts, NR_ROWS, BPF_F_MMAPABLE);
BPF_F_TABLE("array", u32, struct owner, owners, OWNER_ENTRIES, BPF_F_MMAPABLE);
struct stack_ips { u64 ip[STACK_DEPTH]; };  // 32 frames: page_owner keeps 16, irq entry cuts
BPF_TABLE("stacktrace", int, struct stack_ips, stack_traces, STACK_ENTRIES);
// Per CPU, one entry per program (PROG_ALLOC, PROG_FREE), all counters in one value: one
// lookup per event, and plain adds. A perf tracepoint's program never runs nested in another
// on its CPU (bpf_prog_active), but a raw tracepoint's only excludes itself (prog->active):
// with one entry per program, a free program interrupting the alloc program's
// read-modify-write on the same CPU still cannot lose an update.
struct counter_set {
    u64 n[NR_COUNTERS];
    u64 tick;            // alloc program: the jiffy of ...
    u64 tick_ns;         // ... and bpf_ktime_get_ns() at this CPU's first allocation in it
};
BPF_PERCPU_ARRAY(counters, struct counter_set, 2);
BPF_ARRAY(control, u32, 1);
#define PROG_ALLOC 0
#define PROG_FREE 1

// control[0]: 0 = idle, 1 = counting, 2 = calibrating (raw mode, before counting)
#define CONTROL_COUNTING 1
#define CONTROL_CALIBRATING 2

static __always_inline u32 control_state(void)
{
    u32 zero = 0;
    u32 *state = control.lookup(&zero);
    return state ? *state : 0;
}

// What user space learnt in calibration (raw mode): struct page * -> pfn. (The frames of
// BPF/tracepoint machinery at the top of a raw tracepoint's stack vary with the number of
// probes attached, so user space cuts them when it symbolises a stack.)
struct config {
    u64 vmemmap_base;
    u64 page_shift;      // log2(sizeof(struct page))
    u64 calibration_tgid;
};
BPF_ARRAY(config, struct config, 1);



static __always_inline void add_to_row(u32 row, s32 pages, s32 heads, u32 order)
{
    struct stack_count *c = stack_counts.lookup(&row);
    if (!c || order >= NR_ORDERS)
        return;
    if (heads)
        __sync_fetch_and_add(&c->allocations, heads);
    __sync_fetch_and_add(&c->order_pages[order], pages);
}

// A slot's fields: stack row, offset of the page in its allocation, allocation order.
#define SLOT_ROW(v) ((u32)(v))
#define SLOT_OFFSET(v) (((v) >> 32) & 0xffff)
#define SLOT_ORDER(v) (((v) >> 48) & 0xff)

// Takes a page whose free we never saw off the stack its slot still names; 1 if it did.
static __always_inline u32 take_back_missed(u64 old)
{
    if (!old || SLOT_ROW(old) == ROW_PRESTART)
        return 0;
    add_to_row(SLOT_ROW(old), -1, SLOT_OFFSET(old) == 0 ? -1 : 0, SLOT_ORDER(old));
    return 1;
}

// Loop state for allocations and frees of order >= 1 lives in a per-CPU map value, not on
// the BPF stack: the verifier does not track map contents, so the paths through one
// iteration converge at the loop head and a 1024-iteration loop verifies in linear time
// (BCC 0.26 cannot relocate bpf_loop callbacks). One entry per program, as for counters.
// Order 0 (nearly every allocation and free) takes a straight path without it.
struct walk {
    u64 pfn;
    s64 run_pages;
    s64 run_heads;
    u32 row;
    u32 order;
    u32 run_row;
    u32 run_order;
    u32 missed;
    u32 untracked;
    u32 untraced;
};
BPF_PERCPU_ARRAY(walks, struct walk, 2);

static __always_inline void alloc_slot(u32 i, struct walk *walk)
{
    u32 index = (u32)walk->pfn + i;
    u64 *slot = page_slots.lookup(&index);
    if (!slot)
        return;
    walk->missed += take_back_missed(*slot);
    *slot = (u64)walk->row | ((u64)i << 32) | ((u64)walk->order << 48);
}

static __always_inline void free_slot(u32 i, struct walk *walk)
{
    u32 index = (u32)walk->pfn + i;
    u64 *slot = page_slots.lookup(&index);
    if (!slot)
        return;
    u64 value = *slot;
    if (!value) {                   // allocated after start without mm_page_alloc firing
        walk->untraced++;
        return;
    }
    *slot = 0;
    if ((u32)value == ROW_PRESTART) {   // allocated before the tracker started
        walk->untracked++;
        return;
    }
    u32 row = SLOT_ROW(value);
    u32 order = SLOT_ORDER(value);
    u32 offset = SLOT_OFFSET(value);
    if (row != walk->run_row || order != walk->run_order) {
        if (walk->run_pages)
            add_to_row(walk->run_row, -walk->run_pages, -walk->run_heads, walk->run_order);
        walk->run_row = row;
        walk->run_order = order;
        walk->run_pages = 0;
        walk->run_heads = 0;
    }
    walk->run_pages++;
    if (offset == 0)
        walk->run_heads++;
}

static __always_inline int on_alloc(void *ctx, u64 pfn, u32 order, u64 gfp_flags, int migratetype)
{
    u32 key = PROG_ALLOC;
    struct counter_set *n = counters.lookup(&key);
    if (!n)
        return 0;
    if (pfn == (u64)-1) {           // failed allocation: fires, but owns nothing
        n->n[C_FAILED_ALLOCS]++;
        return 0;
    }
    n->n[C_ALLOC_EVENTS]++;
    if (order >= NR_ORDERS || pfn + (1ULL << order) > PFN_LIMIT) {
        n->n[C_OUT_OF_RANGE_PAGES] += order < 32 ? (1ULL << order) : 1;
        return 0;
    }
    u32 pages = 1U << order;
    n->n[C_ALLOC_PAGES] += pages;

    int id = stack_traces.get_stackid(ctx, 0);
    u32 row;
    if (id >= 0) {
        row = (u32)id + 1;
    } else if (id == -EEXIST || id == -ENOMEM) {
        row = ROW_STACK_FULL;
        n->n[C_STACK_FULL_EVENTS]++;
    } else {
        row = ROW_NO_STACK;
        n->n[C_STACK_FAIL_EVENTS]++;
    }

    // Write the slot of every base page; a slot still holding an owner means we missed
    // that page's free (a path without mm_page_free): take it off its old stack.
    if (order == 0) {
        u32 index = (u32)pfn;
        u64 *slot = page_slots.lookup(&index);
        if (slot) {
            n->n[C_REALLOCATED_PAGES] += take_back_missed(*slot);
            *slot = row;            // offset 0, order 0
        }
    } else {
        struct walk *walk = walks.lookup(&key);
        if (!walk)
            return 0;
        walk->pfn = pfn;
        walk->row = row;
        walk->order = order;
        walk->missed = 0;
        for (u32 i = 0; i < MAX_ORDER_PAGES; i++) {
            if (i >= pages)
                break;
            alloc_slot(i, walk);
        }
        n->n[C_REALLOCATED_PAGES] += walk->missed;
    }
    add_to_row(row, pages, 1, order);

#ifndef NO_OWNERS
    u32 head = (u32)pfn;
    struct owner *o = owners.lookup(&head);
    if (o) {
        // One clock read per jiffy and CPU: bpf_ktime_get_ns() cost 75 ns per allocation
        // (a third of the owner record, in run_time_ns), bpf_jiffies64() is inlined.
        // ts is then CLOCK_MONOTONIC up to one tick (1/HZ) early; page_owner's is exact.
        u64 tick = bpf_jiffies64();
        if (n->tick != tick) {
            n->tick = tick;
            n->tick_ns = bpf_ktime_get_ns();
        }
        o->ts = n->tick_ns;
        o->cgroup = bpf_get_current_cgroup_id();
        o->row = row;
        o->gfp = (u32)gfp_flags;
        u64 pid_tgid = bpf_get_current_pid_tgid();
        o->pid = (u32)pid_tgid;
        o->tgid = pid_tgid >> 32;
        bpf_get_current_comm(&o->comm, sizeof(o->comm));
        o->order = order;
        o->migratetype = migratetype;
    } else {
        n->n[C_OWNER_DROPS]++;
    }
#endif
    return 0;
}

static __always_inline int on_free(u64 pfn, u32 order)
{
    u32 key = PROG_FREE;
    struct counter_set *n = counters.lookup(&key);
    if (!n)
        return 0;
    n->n[C_FREE_EVENTS]++;
    if (order >= NR_ORDERS || pfn + (1ULL << order) > PFN_LIMIT) {
        n->n[C_OUT_OF_RANGE_PAGES] += order < 32 ? (1ULL << order) : 1;
        return 0;
    }
    u32 pages = 1U << order;
    n->n[C_FREE_PAGES] += pages;
    // Per base page: each freed page goes back to the stack its own slot names.
    if (order == 0) {
        u32 index = (u32)pfn;
        u64 *slot = page_slots.lookup(&index);
        if (!slot)
            return 0;
        u64 value = *slot;
        if (!value) {               // allocated after start without mm_page_alloc firing
            n->n[C_UNTRACED_FREE_PAGES]++;
            return 0;
        }
        *slot = 0;
        if (SLOT_ROW(value) == ROW_PRESTART) {  // allocated before the tracker started
            n->n[C_UNTRACKED_FREE_PAGES]++;
            return 0;
        }
        add_to_row(SLOT_ROW(value), -1, SLOT_OFFSET(value) == 0 ? -1 : 0, SLOT_ORDER(value));
        return 0;
    }
    // Runs of pages with the same row and order are subtracted with one add per field.
    struct walk *walk = walks.lookup(&key);
    if (!walk)
        return 0;
    walk->pfn = pfn;
    walk->run_pages = 0;
    walk->run_heads = 0;
    walk->run_row = 0;
    walk->run_order = 0;
    walk->untracked = 0;
    walk->untraced = 0;
    for (u32 i = 0; i < MAX_ORDER_PAGES; i++) {
        if (i >= pages)
            break;
        free_slot(i, walk);
    }
    if (walk->run_pages)
        add_to_row(walk->run_row, -walk->run_pages, -walk->run_heads, walk->run_order);
    n->n[C_UNTRACKED_FREE_PAGES] += walk->untracked;
    n->n[C_UNTRACED_FREE_PAGES] += walk->untraced;
    return 0;
}

#ifdef RAW_MODE
// Raw tracepoints: the probe runs straight from the tracepoint, without the perf event
// record a TRACEPOINT_PROBE builds first, but its stack capture also unwinds the BPF and
// tracepoint frames. They pass struct page *, so the pfn comes from the vmemmap layout
// calibrated at start-up.

static __always_inline u64 struct_page_pfn(u64 page)
{
    u32 zero = 0;
    struct config *c = config.lookup(&zero);
    if (!page || !c || !c->page_shift)
        return (u64)-1;
    return (page - c->vmemmap_base) >> c->page_shift;
}

// Calibration: while control[0] is CONTROL_CALIBRATING, the alloc probe records the
// struct page * of every allocation made by the calibrating process (config.calibration_tgid);
// user space knows their pfns from /proc/self/pagemap and solves page = base + pfn * size.
BPF_PERCPU_ARRAY(calibration_pages, u64, 256);
BPF_PERCPU_ARRAY(calibration_count, u32, 1);

RAW_TRACEPOINT_PROBE(mm_page_alloc)
{
    u32 state = control_state();
    u64 page = ctx->args[0];
    if (state == CONTROL_COUNTING)
        return on_alloc(ctx, struct_page_pfn(page), (u32)ctx->args[1], ctx->args[2], (int)ctx->args[3]);
    if (state == CONTROL_CALIBRATING && page) {
        u32 zero = 0;
        struct config *c = config.lookup(&zero);
        u32 *n = calibration_count.lookup(&zero);
        if (!c || !n || (bpf_get_current_pid_tgid() >> 32) != c->calibration_tgid)
            return 0;
        u32 index = *n;
        u64 *slot = calibration_pages.lookup(&index);
        if (slot) {
            *slot = page;
            *n = index + 1;     // per CPU: no atomics needed
        }
    }
    return 0;
}

RAW_TRACEPOINT_PROBE(mm_page_free)
{
    if (control_state() != CONTROL_COUNTING)
        return 0;
    u64 pfn = struct_page_pfn(ctx->args[0]);
    if (pfn == (u64)-1)
        return 0;
    return on_free(pfn, (u32)ctx->args[1]);
}

#else
// Perf tracepoints (the default, and the fallback when calibration fails): fields come
// from the tracefs format, pfn included.

TRACEPOINT_PROBE(kmem, mm_page_alloc)
{
    if (control_state() != CONTROL_COUNTING)
        return 0;
    return on_alloc(args, args->pfn, args->order, args->gfp_flags, args->migratetype);
}

TRACEPOINT_PROBE(kmem, mm_page_free)
{
    if (control_state() != CONTROL_COUNTING)
        return 0;
    return on_free(args->pfn, args->order);
}
#endif
