// The floor for bench/ebpf_overhead: a stack per allocation and nothing else, with the
// same stack map size and depth as pageowner-top's tracker. RAW_FLOOR: on the raw
// tracepoint, else on the perf tracepoint (as the tracker attaches by default).
// EMPTY_FREE: also an empty program on kmem:mm_page_free (what seeing frees costs).
struct stack_ips { u64 ip[STACK_DEPTH]; };
BPF_TABLE("stacktrace", int, struct stack_ips, stack_traces, STACK_ENTRIES);

#ifdef RAW_FLOOR
RAW_TRACEPOINT_PROBE(mm_page_alloc)
{
    stack_traces.get_stackid(ctx, 0);
    return 0;
}
#else
TRACEPOINT_PROBE(kmem, mm_page_alloc)
{
    stack_traces.get_stackid(args, 0);
    return 0;
}
#endif

#ifdef EMPTY_FREE
TRACEPOINT_PROBE(kmem, mm_page_free)
{
    return 0;
}
#endif
