// The floor for bench/ebpf_overhead: a stack per allocation and nothing else, with the
// same stack map size and depth as pageowner-top's tracker. RAW_FLOOR: on the raw
// tracepoint (as the tracker attaches by default), else on the perf tracepoint.
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
