// welford.glsl - running moments (count, mean, M2) merged with Chan's formula, and the
// workgroup reductions of moments_partial.comp / moments_merge.comp. Includers use
// local_size_x = WF_SIZE (gl_WorkGroupSize would read (1,1,1) here: glslang evaluates it
// where it is used, before the includer's layout declaration).
// Counts stay uint: a float count is exact only up to 2^24.
//
// Define WELFORD_SUBGROUP (and enable GL_KHR_shader_subgroup_basic + _shuffle) before
// including to reduce within subgroups by shuffles first; the host picks that variant
// only when the device reports those operations. Subgroup sizes are read at run time.

struct Welford {
    uint n;
    float mean;  // of the data minus the channel's pilot value
    float m2;    // sum of squared deviations from mean
};

layout(buffer_reference, scalar, buffer_reference_align = 4) buffer Welfords { Welford v[]; };

const Welford WELFORD_EMPTY = Welford(0u, 0.0, 0.0);

// Chan et al.: n = na + nb, d = mb - ma, mean = ma + d nb/n, M2 = M2a + M2b + d^2 na nb/n.
// Branch-free: an empty side (n = 0, mean = 0, M2 = 0) leaves the other unchanged.
Welford welford_merge(Welford a, Welford b)
{
    uint n = a.n + b.n;
    float fb = n > 0u ? float(b.n) / float(n) : 0.0;
    float d = b.mean - a.mean;
    return Welford(n, a.mean + d * fb, a.m2 + b.m2 + d * d * float(a.n) * fb);
}

// One value: Welford's update.
Welford welford_push(Welford a, float x)
{
    a.n += 1u;
    float d = x - a.mean;
    a.mean += d / float(a.n);
    a.m2 += d * (x - a.mean);
    return a;
}

// Eight values at once: two-pass moments of the chunk, then one merge (one
// division per eight values instead of eight).
Welford welford_push8(Welford a, float v[8])
{
    float s = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
    float m = s * 0.125;
    float q = 0.0;
    for (int k = 0; k < 8; k++)
        q += (v[k] - m) * (v[k] - m);
    return welford_merge(a, Welford(8u, m, q));
}

const uint WF_SIZE = 256u;
shared uint wf_n[WF_SIZE];
shared float wf_mean[WF_SIZE], wf_m2[WF_SIZE];

void wf_store(uint i, Welford w)
{
    wf_n[i] = w.n;
    wf_mean[i] = w.mean;
    wf_m2[i] = w.m2;
}

Welford wf_load(uint i) { return Welford(wf_n[i], wf_mean[i], wf_m2[i]); }

// Merges the states of all WF_SIZE invocations; the result is valid in invocation 0.
// Must be reached by every invocation of the workgroup (uniform control flow).
Welford welford_reduce_workgroup(Welford w)
{
    uint tid = gl_LocalInvocationIndex;
#ifdef WELFORD_SUBGROUP
    // Butterfly across the subgroup (any power-of-two size), then one state per subgroup.
    for (uint off = 1u; off < gl_SubgroupSize; off <<= 1u) {
        Welford o = Welford(subgroupShuffleXor(w.n, off), subgroupShuffleXor(w.mean, off),
                            subgroupShuffleXor(w.m2, off));
        w = welford_merge(w, o);
    }
    if (subgroupElect())
        wf_store(gl_SubgroupID, w);
    barrier();
    uint count = gl_NumSubgroups;
#else
    wf_store(tid, w);
    barrier();
    uint count = WF_SIZE;
#endif
    // Tree over the `count` stored states (count need not be a power of two).
    for (uint off = 1u; off < count; off <<= 1u) {
        if ((tid & (2u * off - 1u)) == 0u && tid + off < count)
            wf_store(tid, welford_merge(wf_load(tid), wf_load(tid + off)));
        barrier();
    }
    Welford r = wf_load(0u);
    barrier();  // the caller may reuse the shared arrays
    return r;
}

// Merges runs of `seg` consecutive invocations (seg >= 1, any value, uniform): the result
// of run k is valid in invocation k * seg. Uniform control flow required.
Welford welford_reduce_segments(Welford w, uint seg)
{
    uint tid = gl_LocalInvocationIndex;
    uint lane = tid % seg;
    wf_store(tid, w);
    barrier();
    for (uint off = 1u; off < seg; off <<= 1u) {
        if ((lane & (2u * off - 1u)) == 0u && lane + off < seg && tid + off < WF_SIZE)
            wf_store(tid, welford_merge(wf_load(tid), wf_load(tid + off)));
        barrier();
    }
    Welford r = wf_load(tid);
    barrier();
    return r;
}
