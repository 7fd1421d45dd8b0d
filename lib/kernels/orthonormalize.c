/* orthonormalize.c - blocked modified Gram-Schmidt with re-orthogonalization (host side).
 *
 * The n = min(rows, cols) vectors (rows, or columns through a transposed copy in scratch)
 * are processed in panels of `panel` rows. Each panel goes through two rounds of
 *   1. projection on all earlier rows by two products: C = P Q^T (coefficients, split
 *      over chunks of the row), then P -= C Q;
 *   2. one pass of modified Gram-Schmidt inside the panel, normalizing.
 * The second round is the re-orthogonalization ("twice is enough") of both the block
 * and the in-panel part; repeating the projection *after* the first in-panel pass also
 * cleans rows that were nearly dependent on earlier panels. Every step divides by a
 * positive norm, so the result is the Q of a QR factorization with diag(R) > 0.
 *
 * Two kernel sets, the same algorithm:
 *  - GPUs: panels of 16; mgs_coeffs tiles C in shared memory over many workgroups (split
 *    over chunks of the row, added by mgs_reduce), mgs_project, mgs_panel (256 threads,
 *    or one dispatch per step over chunks of long rows), mgs_transpose.
 *  - CPU devices (lavapipe, SwiftShader), where a subgroup is one SIMD vector, each
 *    per-lane memory access a loop over the lanes (one per component) and only private
 *    values with constant indices are cheap: panels of 32. mgs_coeffs_sg / mgs_project_sg
 *    are one-subgroup workgroups that load 64 bits per lane and component and broadcast
 *    by subgroupShuffle (mgs_project_sg also adds the chunks of C); mgs_panel_sg holds the
 *    whole panel in its invocations' private arrays, does both passes of the first panel
 *    in one dispatch and costs one barrier per step; mgs_sweep_sg (one dispatch per step)
 *    takes rows too long for that; mgs_copy_sg. These kernels need rows padded to 16
 *    floats (2 * subgroup size if more) and 16-byte aligned: the work is done on a padded
 *    copy when the matrix is not so already (mgs_sweep_sg alone takes any rows).
 *  - CPU devices with storage texel buffers (the default there): the same CPU kernels for
 *    the panels, but each projection as two texel GEMMs (forward_gemm.c; vk/texel.c says
 *    why they run 3-4x faster than kernels reading through device addresses):
 *    Ct = Q P^T (gemm_tx), then P -= Ct^T Q (gemm_txk, which reads Ct and Q K-major as
 *    they lie). On lavapipe this halved the time of a 1024 x 1024 matrix. (Blocks of 128
 *    rows projected by larger products, BCGS2 over the panel algorithm, ran no faster:
 *    the second in-block pass doubles the panel passes, which run in one workgroup and
 *    are by then half of the time.)
 * LSUV_MGS_KERNEL=gpu|cpu|texel (read at context creation) forces a set (tests use it to
 * cover all three on one device).
 *
 * Rank deficiency: a row whose remaining squared norm is exactly zero (or below FLT_MIN)
 * is left as a zero row and removes nothing from later rows; a numerically dependent row
 * whose remainder is rounding noise is normalized, and the second round makes it a unit
 * vector orthogonal to the others (the result then completes the basis). No NaN either way. */

#include "common/util.h"
#include "kernels/kernels.h"

#define GPU_PANEL 16        /* PB in mgs_panel.comp / mgs_project.comp, TM in mgs_coeffs */
#define COEFF_TILE 64       /* TN in mgs_coeffs.comp */
#define COEFF_TK 32         /* 4 * TK4 in mgs_coeffs.comp: chunks are multiples */
#define COEFF_GROUPS 256    /* aimed-for workgroups of mgs_coeffs per product */
#define COEFF_MIN_CHUNK 256
#define PANEL_CHUNK 16384   /* rows at least this long run mgs_panel in chunks of ~half that */
#define MAX_CHUNKS 256

#define CPU_PANEL 32        /* PB in mgs_panel_sg.comp, TM in mgs_coeffs_sg / mgs_project_sg */
#define CPU_TN 8            /* TN in mgs_coeffs_sg / mgs_project_sg */
#define CPU_PAD 16          /* row padding (floats) of the working copy */
#define CPU_GROUPS 8        /* aimed-for workgroups per product: a few per core */
#define CPU_MIN_CHUNK 256
#define CPU_PANEL_WG_MAX 256 /* invocations of mgs_panel_sg */
#define CPU_SWEEP_CHUNK 1024 /* columns per workgroup of mgs_sweep_sg */

#define ALL_STEPS 0xffffffffu

typedef struct { uint32_t lo, hi; } addr2;

static addr2 addr_of(const lsuv_buffer *b)
{
    return (addr2){(uint32_t)b->address, (uint32_t)(b->address >> 32)};
}

typedef struct ortho_plan {
    lsuv_buffer v;          /* n x ld, the rows to orthonormalize */
    lsuv_buffer c, part;    /* GPU: coefficients (panel x n); chunk partials */
    lsuv_buffer dots[2];    /* the chunked panel pass's dots, double-buffered */
    uint32_t n, m, ld;      /* ld: row stride of v (GPU kernels: also the row length) */
    int cpu;                /* the CPU-device kernel set */
    uint32_t panel;         /* rows per panel */
    uint32_t sg;            /* CPU: subgroup size */
    uint32_t panel_chunk, panel_chunks; /* the in-panel pass over chunks of the row: GPU:
                                         * 1 = one workgroup per pass; CPU: 0 = none */
    uint32_t project_nc;    /* GPU: columns per thread in mgs_project */
    uint32_t panel_wg, panel_cpt; /* CPU: mgs_panel_sg's workgroup, vec4 per invocation */
    int texel;              /* CPU: projections as texel GEMMs */
    lsuv_buffer ct;         /* texel: coefficients, transposed (earlier rows x panel) */
} ortho_plan;

/* The CPU kernels need a fixed small subgroup size, shuffles, subgroup sums and 64-bit
 * integers (their loads move two floats at a time). */
static int cpu_kernels_ok(const lsuv_context *ctx)
{
    const uint32_t need = 0x1u /* BASIC */ | 0x4u /* ARITHMETIC */ | 0x10u /* SHUFFLE */;
    uint32_t sg = ctx->info.subgroup_size;
    return ctx->info.int64 && (ctx->info.subgroup_operations & need) == need &&
           (sg == 4 || sg == 8 || sg == 16) && ctx->info.max_workgroup_invocations >= CPU_PANEL_WG_MAX;
}

static int use_cpu_kernels(const lsuv_context *ctx)
{
    if (ctx->tuning.mgs_kernel == LSUV_MGS_GPU || !cpu_kernels_ok(ctx))
        return 0;
    return ctx->tuning.mgs_kernel == LSUV_MGS_CPU || ctx->tuning.mgs_kernel == LSUV_MGS_TEXEL ||
           ctx->info.type == LSUV_DEVICE_CPU;
}

int lsuv_k_mgs_cpu_set(const lsuv_context *ctx) { return use_cpu_kernels(ctx); }

/* Projections as texel GEMMs: by default on CPU devices, where the whole working copy
 * and the coefficients each fit one texel view. */
static int use_texel_products(const lsuv_context *ctx, const ortho_plan *pl)
{
    if (!pl->cpu || ctx->tuning.mgs_kernel == LSUV_MGS_CPU || pl->ld % 16)
        return 0;
    return lsuv_k_texel_products_ok(ctx, (uint64_t)pl->n * pl->ld / 4);
}

/* ---- GPU kernel set */

/* Chunks of the row for the coefficient product of the panel at row0: enough
 * workgroups to fill a GPU, each chunk a multiple of the k tile. */
static void gpu_coeff_chunks(uint32_t row0, uint32_t m, uint32_t *chunk, uint32_t *nchunks)
{
    uint32_t tiles = lsuv_ceil_div(row0, COEFF_TILE);
    uint32_t want = COEFF_GROUPS / tiles ? COEFF_GROUPS / tiles : 1;
    uint64_t c = lsuv_ceil_div(m, want);
    c = (c + COEFF_TK - 1) / COEFF_TK * COEFF_TK;
    if (c < COEFF_MIN_CHUNK)
        c = COEFF_MIN_CHUNK;
    *chunk = (uint32_t)c;
    *nchunks = lsuv_ceil_div(m, c);
}

static lsuv_status gpu_project(lsuv_context *ctx, const ortho_plan *pl, uint32_t row0, uint32_t pb)
{
    uint32_t chunk, nchunks, wg = 256;
    gpu_coeff_chunks(row0, pl->ld, &chunk, &nchunks);
    const lsuv_buffer *dst = nchunks > 1 ? &pl->part : &pl->c;
    struct { addr2 v, part; uint32_t m, row0, pb, chunk; } pc = {
        addr_of(&pl->v), addr_of(dst), pl->ld, row0, pb, chunk};
    LSUV_PUSH_FITS(pc);
    lsuv_status st = lsuv_dispatch(ctx, LSUV_SHADER_MGS_COEFFS, &wg, 1, &pc, sizeof pc,
                                   lsuv_ceil_div(row0, COEFF_TILE), nchunks, 1);
    if (st == LSUV_OK && nchunks > 1) {
        uint32_t count = pb * row0;
        struct { addr2 part, c; uint32_t count, nchunks; } pr = {
            addr_of(&pl->part), addr_of(&pl->c), count, nchunks};
        LSUV_PUSH_FITS(pr);
        st = lsuv_dispatch(ctx, LSUV_SHADER_MGS_REDUCE, NULL, 0, &pr, sizeof pr, lsuv_groups(ctx, count, 256), 1, 1);
    }
    if (st != LSUV_OK)
        return st;
    struct { addr2 v, c; uint32_t m, row0, pb; } pp = {addr_of(&pl->v), addr_of(&pl->c), pl->ld, row0, pb};
    LSUV_PUSH_FITS(pp);
    return lsuv_dispatch(ctx, LSUV_SHADER_MGS_PROJECT, &pl->project_nc, 1, &pp, sizeof pp,
                         lsuv_groups(ctx, pl->ld, 256 * pl->project_nc), 1, 1);
}

static lsuv_status gpu_panel_pass(lsuv_context *ctx, const ortho_plan *pl, uint32_t row0, uint32_t pb)
{
    struct { addr2 v, part_in, part_out; uint32_t m, row0, pb, step, chunk, nchunks; } pc = {
        addr_of(&pl->v), addr_of(&pl->dots[1]), addr_of(&pl->dots[0]), pl->ld, row0, pb, ALL_STEPS,
        pl->ld, 1};
    LSUV_PUSH_FITS(pc);
    if (pl->panel_chunks == 1)
        return lsuv_dispatch(ctx, LSUV_SHADER_MGS_PANEL, NULL, 0, &pc, sizeof pc, 1, 1, 1);
    pc.chunk = pl->panel_chunk;
    pc.nchunks = pl->panel_chunks;
    for (uint32_t s = 0; s <= pb; s++) { /* step s reads what step s-1 wrote */
        pc.step = s;
        pc.part_in = addr_of(&pl->dots[(s + 1) % 2]);
        pc.part_out = addr_of(&pl->dots[s % 2]);
        lsuv_status st = lsuv_dispatch(ctx, LSUV_SHADER_MGS_PANEL, NULL, 0, &pc, sizeof pc, pl->panel_chunks, 1, 1);
        if (st != LSUV_OK)
            return st;
    }
    return LSUV_OK;
}

static void gpu_plan(ortho_plan *pl, uint64_t *part_elems)
{
    pl->panel = GPU_PANEL;
    pl->project_nc = 1;
    pl->panel_chunks = 1;
    if (pl->ld >= PANEL_CHUNK) {
        pl->panel_chunks = lsuv_ceil_div(pl->ld, PANEL_CHUNK / 2);
        if (pl->panel_chunks > MAX_CHUNKS)
            pl->panel_chunks = MAX_CHUNKS;
        pl->panel_chunk = lsuv_round_up(lsuv_ceil_div(pl->ld, pl->panel_chunks), 256);
        pl->panel_chunks = lsuv_ceil_div(pl->ld, pl->panel_chunk);
    }
    for (uint32_t row0 = pl->panel; row0 < pl->n; row0 += pl->panel) {
        uint32_t chunk, nchunks, pb = pl->n - row0 < pl->panel ? pl->n - row0 : pl->panel;
        gpu_coeff_chunks(row0, pl->ld, &chunk, &nchunks);
        if (nchunks > 1 && (uint64_t)nchunks * pb * row0 > *part_elems)
            *part_elems = (uint64_t)nchunks * pb * row0;
    }
}

/* ---- CPU kernel set */

/* Row padding of the working copy: 16 floats, or the column slice of mgs_coeffs_sg. */
static uint32_t cpu_pad(uint32_t sg)
{
    return 2 * sg > CPU_PAD ? 2 * sg : CPU_PAD;
}

/* Chunks of the row for mgs_coeffs_sg: a few workgroups per core in all. */
static void cpu_coeff_chunks(const ortho_plan *pl, uint32_t row0, uint32_t *chunk, uint32_t *nchunks)
{
    uint32_t tiles = lsuv_ceil_div(row0, pl->sg * CPU_TN);
    uint32_t want = lsuv_ceil_div(CPU_GROUPS, tiles);
    uint32_t c = lsuv_round_up(lsuv_ceil_div(pl->ld, want), cpu_pad(pl->sg));
    if (c < CPU_MIN_CHUNK)
        c = CPU_MIN_CHUNK;
    *chunk = c;
    *nchunks = lsuv_ceil_div(pl->ld, c);
}

static lsuv_status cpu_project(lsuv_context *ctx, const ortho_plan *pl, uint32_t row0, uint32_t pb)
{
    const uint32_t *lim = ctx->info.max_workgroup_count;
    uint32_t chunk, nchunks;
    cpu_coeff_chunks(pl, row0, &chunk, &nchunks);
    uint32_t spec[3] = {CPU_PANEL, CPU_TN, pl->sg};
    struct { addr2 v, part; uint32_t ld4, row0, pb, chunk; } pc = {
        addr_of(&pl->v), addr_of(&pl->part), pl->ld / 4, row0, pb, chunk};
    LSUV_PUSH_FITS(pc);
    uint32_t tiles = lsuv_ceil_div(row0, pl->sg * CPU_TN);
    lsuv_status st = lsuv_dispatch(ctx, LSUV_SHADER_MGS_COEFFS_SG, spec, 3, &pc, sizeof pc,
                                   tiles < lim[0] ? tiles : lim[0], nchunks < lim[1] ? nchunks : lim[1], 1);
    if (st != LSUV_OK)
        return st;
    struct { addr2 v, part; uint32_t ld4, row0, pb, nchunks; } pp = {
        addr_of(&pl->v), addr_of(&pl->part), pl->ld / 4, row0, pb, nchunks};
    LSUV_PUSH_FITS(pp);
    return lsuv_dispatch(ctx, LSUV_SHADER_MGS_PROJECT_SG, spec, 3, &pp, sizeof pp,
                         lsuv_groups(ctx, pl->ld, pl->sg * 8), 1, 1);
}

/* Rows row0..row0+pb of pl->v projected on rows 0..row0 (orthonormal): Ct = Q P^T, then
 * P -= Ct^T Q. */
static lsuv_status texel_project(lsuv_context *ctx, const ortho_plan *pl, uint32_t row0, uint32_t pb)
{
    uint64_t row = (uint64_t)pl->ld * 4;
    lsuv_buffer q = lsuv_buffer_slice(&pl->v, 0, row0 * row);
    lsuv_buffer p = lsuv_buffer_slice(&pl->v, row0 * row, pb * row);
    uint32_t ldc = lsuv_round_up(pb, 8);
    lsuv_status st = lsuv_k_texel_gemm_nt(ctx, &q, row0, &p, pb, pl->ld, &pl->ct, ldc);
    if (st == LSUV_OK)
        st = lsuv_k_texel_gemm_tn_update(ctx, &pl->ct, ldc, &q, pl->ld, row0, &p, pl->ld, pb, pl->ld, -1.0f, 0);
    return st;
}

/* One or two passes of MGS over the panel: in one workgroup's registers, or (rows too
 * long for that) one dispatch per step over chunks of the row. */
static lsuv_status cpu_panel_pass(lsuv_context *ctx, const ortho_plan *pl, uint32_t row0, uint32_t pb,
                                  uint32_t passes)
{
    if (pl->panel_chunks == 0) {
        uint32_t spec[3] = {pl->panel_wg, pl->sg, pl->panel_cpt};
        struct { addr2 v; uint32_t ld4, row0, pb, passes; } pc = {
            addr_of(&pl->v), pl->ld / 4, row0, pb, passes};
        LSUV_PUSH_FITS(pc);
        return lsuv_dispatch(ctx, LSUV_SHADER_MGS_PANEL_SG, spec, 3, &pc, sizeof pc, 1, 1, 1);
    }
    struct { addr2 v, part_in, part_out; uint32_t m, ld, row0, pb, step, chunk, nchunks; } pc = {
        addr_of(&pl->v), addr_of(&pl->dots[1]), addr_of(&pl->dots[0]), pl->m, pl->ld, row0, pb, 0,
        pl->panel_chunk, pl->panel_chunks};
    LSUV_PUSH_FITS(pc);
    uint32_t groups = pl->panel_chunks < ctx->info.max_workgroup_count[0] ? pl->panel_chunks
                                                                           : ctx->info.max_workgroup_count[0];
    for (uint32_t pass = 0, n = 0; pass < passes; pass++)
        for (uint32_t s = 0; s <= pb; s++, n++) { /* step s reads what step s-1 wrote */
            pc.step = s;
            pc.part_in = addr_of(&pl->dots[(n + 1) % 2]);
            pc.part_out = addr_of(&pl->dots[n % 2]);
            lsuv_status st = lsuv_dispatch(ctx, LSUV_SHADER_MGS_SWEEP_SG, &pl->sg, 1, &pc, sizeof pc, groups, 1, 1);
            if (st != LSUV_OK)
                return st;
        }
    return LSUV_OK;
}

static void cpu_plan(const lsuv_context *ctx, ortho_plan *pl, uint64_t *part_elems)
{
    pl->panel = CPU_PANEL;
    pl->sg = ctx->info.subgroup_size;
    /* In registers: the first of these forms that holds the row, few subgroups first
     * (each costs a reduction per step), few vec4 columns per invocation (the LLVM time
     * of a variant grows with them: about 0.6 s per vec4 on lavapipe); longer rows go
     * through memory in chunks. */
    static const uint8_t forms[][2] = {{8, 1}, {8, 2}, {8, 4}, {8, 6}, {16, 4}, {16, 6}, {24, 6}, {32, 6}};
    uint32_t ld4 = pl->ld / 4;
    pl->panel_cpt = 0;
    for (size_t f = 0; f < sizeof forms / sizeof forms[0] && !pl->panel_cpt; f++)
        if ((uint32_t)forms[f][0] * pl->sg <= CPU_PANEL_WG_MAX &&
            (uint32_t)forms[f][0] * pl->sg * forms[f][1] >= ld4) {
            pl->panel_wg = forms[f][0] * pl->sg;
            pl->panel_cpt = forms[f][1];
        }
    pl->panel_chunks = 0;
    if (!pl->panel_cpt) {
        pl->panel_chunks = lsuv_ceil_div(pl->ld, CPU_SWEEP_CHUNK);
        if (pl->panel_chunks > MAX_CHUNKS)
            pl->panel_chunks = MAX_CHUNKS;
        pl->panel_chunk = lsuv_round_up(lsuv_ceil_div(pl->ld, pl->panel_chunks), CPU_PAD);
        pl->panel_chunks = lsuv_ceil_div(pl->ld, pl->panel_chunk);
    }
    for (uint32_t row0 = pl->panel; row0 < pl->n; row0 += pl->panel) {
        uint32_t chunk, nchunks, pb = pl->n - row0 < pl->panel ? pl->n - row0 : pl->panel;
        cpu_coeff_chunks(pl, row0, &chunk, &nchunks);
        if ((uint64_t)nchunks * pb * row0 > *part_elems)
            *part_elems = (uint64_t)nchunks * pb * row0;
    }
}

/* ---- both */

/* dst (rows x dst_ld) = src or its transpose, columns from cols on zero. */
lsuv_status lsuv_k_copy_rows(lsuv_context *ctx, int cpu, const lsuv_buffer *src, const lsuv_buffer *dst,
                             uint32_t rows, uint32_t cols, uint32_t src_ld, uint32_t dst_ld, int transpose)
{
    struct { addr2 src, dst; uint32_t rows, cols, src_ld, dst_ld, transpose; } pc = {
        addr_of(src), addr_of(dst), rows, cols, src_ld, dst_ld, (uint32_t)transpose};
    LSUV_PUSH_FITS(pc);
    if (cpu)
        return lsuv_dispatch(ctx, LSUV_SHADER_MGS_COPY_SG, NULL, 0, &pc, sizeof pc,
                             lsuv_groups(ctx, (uint64_t)lsuv_ceil_div(rows, 32) * lsuv_ceil_div(dst_ld, 32), 1), 1, 1);
    uint64_t tiles = (uint64_t)lsuv_ceil_div(rows, 32) * lsuv_ceil_div(dst_ld, 32);
    return lsuv_dispatch(ctx, LSUV_SHADER_MGS_TRANSPOSE, NULL, 0, &pc, sizeof pc, lsuv_groups(ctx, tiles, 1), 1, 1);
}

/* The panel algorithm over the rows of pl->v: each panel projected on the earlier ones,
 * then MGS inside it, twice. */
static lsuv_status panels(lsuv_context *ctx, const ortho_plan *pl)
{
    for (uint32_t row0 = 0; row0 < pl->n; row0 += pl->panel) {
        uint32_t pb = pl->n - row0 < pl->panel ? pl->n - row0 : pl->panel;
        for (int round = 0; round < 2; round++) {
            lsuv_status st = LSUV_OK;
            if (row0 > 0)
                st = pl->texel ? texel_project(ctx, pl, row0, pb)
                     : pl->cpu ? cpu_project(ctx, pl, row0, pb)
                               : gpu_project(ctx, pl, row0, pb);
            else if (pl->cpu && round == 1)
                break; /* the first panel's two passes ran in one dispatch */
            if (st == LSUV_OK)
                st = pl->cpu ? cpu_panel_pass(ctx, pl, row0, pb, row0 > 0 ? 1 : 2)
                             : gpu_panel_pass(ctx, pl, row0, pb);
            if (st != LSUV_OK)
                return st;
        }
    }
    return LSUV_OK;
}

static lsuv_status record(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows, uint32_t cols)
{
    ortho_plan pl = {0};
    int columns = rows > cols;
    pl.n = columns ? cols : rows;
    pl.m = columns ? rows : cols;
    pl.cpu = use_cpu_kernels(ctx);
    pl.ld = pl.cpu ? lsuv_round_up(pl.m, cpu_pad(ctx->info.subgroup_size)) : pl.m;
    uint64_t part_elems = 1;
    if (pl.cpu)
        cpu_plan(ctx, &pl, &part_elems);
    else
        gpu_plan(&pl, &part_elems);
    /* one panel of long rows: mgs_sweep_sg alone, which takes the rows as they are */
    int any_rows = !pl.cpu || (pl.panel_chunks > 0 && pl.n <= pl.panel);
    if (any_rows)
        pl.ld = pl.m;
    pl.texel = !any_rows && use_texel_products(ctx, &pl);
    int copied = columns || pl.ld != pl.m || (!any_rows && a->address % 16 != 0) ||
                 (pl.texel && !lsuv_texel_aligned(a, LSUV_TEXEL_RGBA32F));
    lsuv_status st = LSUV_OK;

    pl.v = *a;
    if (copied && (st = lsuv_scratch(ctx, (uint64_t)pl.n * pl.ld * 4, &pl.v)) != LSUV_OK)
        return st;
    if ((!pl.cpu && (st = lsuv_scratch(ctx, (uint64_t)pl.panel * pl.n * 4, &pl.c)) != LSUV_OK) ||
        (!pl.texel && (st = lsuv_scratch(ctx, part_elems * 4, &pl.part)) != LSUV_OK) ||
        (st = lsuv_scratch(ctx, (uint64_t)MAX_CHUNKS * CPU_PANEL * 4, &pl.dots[0])) != LSUV_OK ||
        (st = lsuv_scratch(ctx, (uint64_t)MAX_CHUNKS * CPU_PANEL * 4, &pl.dots[1])) != LSUV_OK ||
        (pl.texel && (st = lsuv_scratch(ctx, (uint64_t)pl.n * CPU_PANEL * 4, &pl.ct)) != LSUV_OK))
        return st;

    if (copied && (st = lsuv_k_copy_rows(ctx, pl.cpu, a, &pl.v, pl.n, pl.m, cols, pl.ld, columns)) != LSUV_OK)
        return st;
    st = panels(ctx, &pl);
    if (st != LSUV_OK)
        return st;
    if (copied)
        st = lsuv_k_copy_rows(ctx, pl.cpu, &pl.v, a, rows, cols, pl.ld, cols, columns);
    return st;
}

lsuv_status lsuv_k_orthonormalize(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows, uint32_t cols)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (!a || !a->address)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "orthonormalize: no matrix buffer");
    if (rows == 0 || cols == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "orthonormalize: empty %u x %u matrix", rows,
                         cols);
    uint64_t elems = (uint64_t)rows * cols;
    if (elems > (1ull << 31))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "orthonormalize: %u x %u matrix has more than 2^31 elements", rows, cols);
    if (a->size < elems * 4)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "orthonormalize: %u x %u matrix needs %llu bytes, buffer has %llu", rows, cols,
                         (unsigned long long)(elems * 4), (unsigned long long)a->size);
    lsuv_phase saved = ctx->phase;
    lsuv_set_phase(ctx, LSUV_PHASE_ORTHONORMALIZE);
    lsuv_status st = record(ctx, a, rows, cols);
    lsuv_set_phase(ctx, saved);
    return st;
}
