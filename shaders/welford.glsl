// welford.glsl - running moments (count, mean, M2) merged with Chan's formula, and the
// workgroup reductions of moments_partial*.comp / moments_merge.comp. Includers use
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

#ifdef MOMENTS_PARTIAL_MAIN
// ---- body of moments_partial.comp / moments_partial_sg.comp
// x is NCHW: channel c holds, for each of `batch` images, `spatial` contiguous values at
// n * rowstride + c * spatial (rowstride = channels * spatial). Each work item (one
// workgroup at a time, grid-stride) reduces a piece of one channel, with the data shifted
// by the channel's pilot value x[c * spatial] so large means do not cancel, and writes
// either a partial state (part[c * parts + piece]) or, with direct, {mean, variance}.
//  MODE 0 (spatial >= 32): the channel's batch*spatial values are cut into `parts` runs
//    of `len` values; invocations stride by 256 through a run, stepping (image, position)
//    with precomputed carries (q256 = 256 / spatial, r256 = 256 % spatial): no division
//    per value.
//  MODE 1 (spatial < 32): a workgroup takes gpc = 256 / spatial whole channels; each
//    invocation owns one column (channel, position) and walks the images of its row range
//    (parts ranges of len images): loads are coalesced even when spatial = 1 (dense
//    layers); the spatial columns of a channel are merged in shared memory.
//  MODE 2: see partial_contiguous.
layout(local_size_x = WF_SIZE) in;
layout(constant_id = 0) const uint MODE = 0u;
layout(push_constant) uniform P {
    uvec2 x, part;
    uint batch, channels, spatial, per_channel, rowstride;
    uint parts, len, items, q256, r256, gpc, direct;
} p;

void write_result(uint c, uint piece, Welford r, float pilot)
{
    if (p.direct != 0u) {
        Floats o = Floats(p.part);
        o.v[2u * c] = pilot + r.mean;
        o.v[2u * c + 1u] = r.m2 / float(r.n);
    } else {
        Welfords(p.part).v[c * p.parts + piece] = r;
    }
}

void partial_runs()
{
    Floats X = Floats(p.x);
    uint tid = gl_LocalInvocationIndex, S = p.spatial, CS = p.rowstride;
    for (uint w = gl_WorkGroupID.x; w < p.items; w += gl_NumWorkGroups.x) {
        uint c = w / p.parts, piece = w - c * p.parts;
        uint e0 = piece * p.len, e1 = min(e0 + p.len, p.per_channel);
        float pilot = X.v[c * S];
        Welford st = WELFORD_EMPTY;
        uint e = e0 + tid;
        if (e < e1) {
            uint n = e / S, s = e - n * S;
            uint addr = n * CS + c * S + s;
            uint step = p.q256 * CS + p.r256, wrap = CS - S;
            // Eight loads in flight per invocation, then one merge.
            for (; e + 7u * 256u < e1; e += 8u * 256u) {
                float v[8];
                for (int k = 0; k < 8; k++) {
                    v[k] = X.v[addr] - pilot;
                    s += p.r256;
                    addr += step;
                    if (s >= S) {
                        s -= S;
                        addr += wrap;
                    }
                }
                st = welford_push8(st, v);
            }
            for (; e < e1; e += 256u) {
                st = welford_push(st, X.v[addr] - pilot);
                s += p.r256;
                addr += step;
                if (s >= S) {
                    s -= S;
                    addr += wrap;
                }
            }
        }
        Welford r = welford_reduce_workgroup(st);
        if (tid == 0u)
            write_result(c, piece, r, pilot);
    }
}

void partial_columns()
{
    Floats X = Floats(p.x);
    uint tid = gl_LocalInvocationIndex, S = p.spatial, CS = p.rowstride;
    uint cl = tid / S, s = tid - cl * S;
    for (uint w = gl_WorkGroupID.x; w < p.items; w += gl_NumWorkGroups.x) {
        uint grp = w / p.parts, piece = w - grp * p.parts;
        uint c = grp * p.gpc + cl;
        bool live = cl < p.gpc && c < p.channels;
        Welford st = WELFORD_EMPTY;
        float pilot = 0.0;
        if (live) {
            pilot = X.v[c * S];
            uint n = piece * p.len, n1 = min(n + p.len, p.batch);
            uint addr = n * CS + c * S + s;
            for (; n + 8u <= n1; n += 8u) {
                float v[8];
                for (uint k = 0u; k < 8u; k++)
                    v[k] = X.v[addr + k * CS] - pilot;
                addr += 8u * CS;
                st = welford_push8(st, v);
            }
            for (; n < n1; n++) {
                st = welford_push(st, X.v[addr] - pilot);
                addr += CS;
            }
        }
        Welford r = welford_reduce_segments(st, S);
        if (live && s == 0u)
            write_result(c, piece, r, pilot);
    }
}

layout(buffer_reference, scalar, buffer_reference_align = 16) buffer Vec4s { vec4 v[]; };

// MODE 2: one contiguous channel (channels = 1) at a 16-byte aligned address, runs of a
// multiple of 4 values: vec4 loads (fewer, wider memory operations).
void partial_contiguous()
{
    Floats X = Floats(p.x);
    Vec4s X4 = Vec4s(p.x);
    uint tid = gl_LocalInvocationIndex;
    float pilot = X.v[0];
    for (uint w = gl_WorkGroupID.x; w < p.items; w += gl_NumWorkGroups.x) {
        uint e0 = w * p.len, e1 = min(e0 + p.len, p.per_channel);
        uint q = e0 / 4u + tid, q1 = e1 / 4u;
        Welford st = WELFORD_EMPTY;
        for (; q + 256u < q1; q += 512u) {
            vec4 a = X4.v[q] - pilot, b = X4.v[q + 256u] - pilot;
            float v[8] = float[8](a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
            st = welford_push8(st, v);
        }
        if (q < q1) {
            vec4 a = X4.v[q] - pilot;
            st = welford_push(welford_push(welford_push(welford_push(st, a.x), a.y), a.z), a.w);
        }
        uint e = 4u * q1 + tid;  // the last e1 % 4 values
        if (e < e1)
            st = welford_push(st, X.v[e] - pilot);
        Welford r = welford_reduce_workgroup(st);
        if (tid == 0u)
            write_result(0u, w, r, pilot);
    }
}

void main()
{
    if (MODE == 0u)
        partial_runs();
    else if (MODE == 1u)
        partial_columns();
    else
        partial_contiguous();
}
#endif
