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
//   base pages, live allocations and pages per order, updated with atomic adds: a refresh
//   reads this one array and nothing else.
// - owners: a preallocated hash keyed by head PFN with page_owner's per-allocation fields
//   (pid, tgid, comm, gfp, migratetype, ts, cgroup). Only exports and PFN ranges read it.
// - Nothing is counted until user space sets control[0] = 1 after both programs are
//   attached: BCC attaches the alloc program before loading the free one, and pages
//   allocated in between would otherwise look live forever.
//
// Macros supplied by the loader: PFN_LIMIT, STACK_ENTRIES, STACK_DEPTH, OWNER_ENTRIES,
// MAX_ORDER_PAGES, NR_ORDERS.

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

struct stack_count {
    s64 pages;           // live base pages
    s64 allocations;     // live allocation heads
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
BPF_HASH(owners, u64, struct owner, OWNER_ENTRIES);
struct stack_ips { u64 ip[STACK_DEPTH]; };  // 32 frames: page_owner keeps 16, irq entry cuts
BPF_TABLE("stacktrace", int, struct stack_ips, stack_traces, STACK_ENTRIES);
BPF_PERCPU_ARRAY(counters, u64, NR_COUNTERS);
BPF_ARRAY(control, u32, 1);

static __always_inline void count(u32 index, u64 n)
{
    u64 *value = counters.lookup(&index);
    if (value)
        *value += n;    // per-CPU: no atomics needed
}

static __always_inline int counting(void)
{
    u32 zero = 0;
    u32 *on = control.lookup(&zero);
    return on && *on;
}

static __always_inline void add_to_row(u32 row, s64 pages, s64 heads, u32 order)
{
    struct stack_count *c = stack_counts.lookup(&row);
    if (!c)
        return;
    __sync_fetch_and_add(&c->pages, pages);
    if (heads)
        __sync_fetch_and_add(&c->allocations, heads);
    if (order < NR_ORDERS)
        __sync_fetch_and_add(&c->order_pages[order], (s32)pages);
}

// Loop state lives in a per-CPU map value, not on the BPF stack: the verifier does not
// track map contents, so the paths through one iteration converge at the loop head and a
// 1024-iteration loop verifies in linear time (BCC 0.26 cannot relocate bpf_loop callbacks).
// Tracepoint programs do not nest on a CPU (bpf_prog_active), so one slot per CPU is enough.
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
    u32 head_order;             // free: order of the allocation whose head is pfn, + 1
};
BPF_PERCPU_ARRAY(walks, struct walk, 1);

static __always_inline void alloc_slot(u32 i, struct walk *walk)
{
    u32 index = (u32)walk->pfn + i;
    u64 *slot = page_slots.lookup(&index);
    if (!slot)
        return;
    u64 old = *slot;
    if (old && (u32)old != ROW_PRESTART) {
        add_to_row((u32)old, -1, ((old >> 32) & 0xffff) == 0 ? -1 : 0, (old >> 48) & 0xff);
        walk->missed++;
    }
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
    u32 row = (u32)value;
    u32 order = (value >> 48) & 0xff;
    u32 offset = (value >> 32) & 0xffff;
    if (i == 0 && offset == 0)
        walk->head_order = order + 1;
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

TRACEPOINT_PROBE(kmem, mm_page_alloc)
{
    if (!counting())
        return 0;
    u64 pfn = args->pfn;
    if (pfn == (u64)-1) {           // failed allocation: fires, but owns nothing
        count(C_FAILED_ALLOCS, 1);
        return 0;
    }
    u32 order = args->order;
    count(C_ALLOC_EVENTS, 1);
    if (order >= NR_ORDERS || pfn + (1ULL << order) > PFN_LIMIT) {
        count(C_OUT_OF_RANGE_PAGES, order < 32 ? (1ULL << order) : 1);
        return 0;
    }
    u32 pages = 1U << order;
    count(C_ALLOC_PAGES, pages);

    int id = stack_traces.get_stackid(args, 0);
    u32 row;
    if (id >= 0) {
        row = (u32)id + 1;
    } else if (id == -EEXIST || id == -ENOMEM) {
        row = ROW_STACK_FULL;
        count(C_STACK_FULL_EVENTS, 1);
    } else {
        row = ROW_NO_STACK;
        count(C_STACK_FAIL_EVENTS, 1);
    }

    // Write the slot of every base page (bpf_loop: verified once, whatever the order); a
    // slot still holding an owner means we missed that page's free (a path without
    // mm_page_free): the callback takes it off its old stack.
    u32 zero = 0;
    struct walk *walk = walks.lookup(&zero);
    if (!walk)
        return 0;
    walk->pfn = pfn;
    walk->row = row;
    walk->order = order;
    walk->missed = 0;
    if (pages == 1) {
        alloc_slot(0, walk);
    } else {
        for (u32 i = 0; i < MAX_ORDER_PAGES; i++) {
            if (i >= pages)
                break;
            alloc_slot(i, walk);
        }
    }
    if (walk->missed)
        count(C_REALLOCATED_PAGES, walk->missed);
    add_to_row(row, pages, 1, order);

    struct owner o = {};
    o.ts = bpf_ktime_get_ns();
    o.cgroup = bpf_get_current_cgroup_id();
    o.row = row;
    o.gfp = (u32)args->gfp_flags;
    u64 pid_tgid = bpf_get_current_pid_tgid();
    o.pid = (u32)pid_tgid;
    o.tgid = pid_tgid >> 32;
    bpf_get_current_comm(&o.comm, sizeof(o.comm));
    o.order = order;
    o.migratetype = args->migratetype;
    if (owners.update(&pfn, &o) != 0)
        count(C_OWNER_DROPS, 1);
    return 0;
}

TRACEPOINT_PROBE(kmem, mm_page_free)
{
    if (!counting())
        return 0;
    u64 pfn = args->pfn;
    u32 order = args->order;
    count(C_FREE_EVENTS, 1);
    if (order >= NR_ORDERS || pfn + (1ULL << order) > PFN_LIMIT) {
        count(C_OUT_OF_RANGE_PAGES, order < 32 ? (1ULL << order) : 1);
        return 0;
    }
    u32 pages = 1U << order;
    count(C_FREE_PAGES, pages);
    // Per base page: each freed page goes back to the stack its own slot names. Runs of
    // pages with the same row and order are subtracted with one atomic add.
    u32 zero = 0;
    struct walk *walk = walks.lookup(&zero);
    if (!walk)
        return 0;
    walk->pfn = pfn;
    walk->run_pages = 0;
    walk->run_heads = 0;
    walk->run_row = 0;
    walk->run_order = 0;
    walk->untracked = 0;
    walk->untraced = 0;
    walk->head_order = 0;
    if (pages == 1) {
        free_slot(0, walk);
    } else {
        for (u32 i = 0; i < MAX_ORDER_PAGES; i++) {
            if (i >= pages)
                break;
            free_slot(i, walk);
        }
    }
    if (walk->run_pages)
        add_to_row(walk->run_row, -walk->run_pages, -walk->run_heads, walk->run_order);
    if (walk->untracked)
        count(C_UNTRACKED_FREE_PAGES, walk->untracked);
    if (walk->untraced)
        count(C_UNTRACED_FREE_PAGES, walk->untraced);
    u32 head_order = walk->head_order;

    // The owner record: gone with its head page; when only the head's part of a larger
    // allocation was freed (split page, alloc_pages_exact tail), the record moves to the
    // first page after the freed part so the remaining pages keep their metadata.
    // Only a tracked head page has a record: untracked frees cost no hash lookup.
    if (!head_order)
        return 0;
    if (head_order - 1 > order) {
        struct owner *o = owners.lookup(&pfn);
        if (o) {
            struct owner moved = *o;
            u64 next = pfn + pages;
            owners.insert(&next, &moved);   // never over a newer owner of that page
        }
    }
    owners.delete(&pfn);
    return 0;
}
