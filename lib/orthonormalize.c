/* orthonormalize.c - blocked modified Gram-Schmidt with re-orthogonalization (host side).
 *
 * The n = min(rows, cols) vectors (rows, or columns through a transposed copy in scratch)
 * are processed in panels of PANEL rows. Each panel goes through two rounds of
 *   1. projection on all earlier rows by two products: C = P Q^T (mgs_coeffs, split
 *      over chunks of the row, chunks added by mgs_reduce), then P -= C Q (mgs_project);
 *   2. one pass of modified Gram-Schmidt inside the panel, normalizing (mgs_panel).
 * The second round is the re-orthogonalization ("twice is enough") of both the block
 * and the in-panel part; repeating the projection *after* the first in-panel pass also
 * cleans rows that were nearly dependent on earlier panels. Every step divides by a
 * positive norm, so the result is the Q of a QR factorization with diag(R) > 0.
 *
 * Rank deficiency: a row whose remaining squared norm is exactly zero (or below FLT_MIN)
 * is left as a zero row and removes nothing from later rows; a numerically dependent row
 * whose remainder is rounding noise is normalized, and the second round makes it a unit
 * vector orthogonal to the others (the result then completes the basis). No NaN either way. */
#include "kernels.h"

#define PANEL 16            /* PB in mgs_panel.comp / mgs_project.comp, TM in mgs_coeffs */
#define COEFF_TILE 64       /* TN in mgs_coeffs.comp */
#define COEFF_TK 32         /* 4 * TK4 in mgs_coeffs.comp: chunks are multiples */
#define COEFF_GROUPS 256    /* aimed-for workgroups of mgs_coeffs per product */
#define COEFF_MIN_CHUNK 256
#define PANEL_CHUNK 16384   /* rows at least this long run mgs_panel in chunks of ~half that */
#define PANEL_MAX_CHUNKS 256
#define ALL_STEPS 0xffffffffu

typedef struct { uint32_t lo, hi; } addr2;

static addr2 addr_of(const lsuv_buffer *b)
{
    return (addr2){(uint32_t)b->address, (uint32_t)(b->address >> 32)};
}

static uint32_t div_up(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

/* Chunks of the row for the coefficient product of the panel at row0: enough
 * workgroups to fill a GPU, each chunk a multiple of the k tile. */
static void coeff_chunks(uint32_t row0, uint32_t m, uint32_t *chunk, uint32_t *nchunks)
{
    uint32_t tiles = div_up(row0, COEFF_TILE);
    uint32_t want = COEFF_GROUPS / tiles ? COEFF_GROUPS / tiles : 1;
    uint64_t c = div_up(m, want);
    c = (c + COEFF_TK - 1) / COEFF_TK * COEFF_TK;
    if (c < COEFF_MIN_CHUNK)
        c = COEFF_MIN_CHUNK;
    *chunk = (uint32_t)c;
    *nchunks = div_up(m, c);
}

typedef struct ortho_plan {
    lsuv_buffer v;          /* n x m, the rows to orthonormalize */
    lsuv_buffer c, part;    /* coefficients (PANEL x n), chunk partials */
    lsuv_buffer dots[2];    /* mgs_panel's chunk dots, double-buffered */
    uint32_t n, m;
    uint32_t panel_chunk, panel_chunks; /* panel_chunks == 1: one workgroup per pass */
    uint32_t project_nc;    /* columns per thread in mgs_project */
    uint32_t coeff_wg;      /* workgroup size of mgs_coeffs */
} ortho_plan;

static lsuv_status project(lsuv_context *ctx, const ortho_plan *pl, uint32_t row0, uint32_t pb)
{
    uint32_t chunk, nchunks;
    coeff_chunks(row0, pl->m, &chunk, &nchunks);
    const lsuv_buffer *dst = nchunks > 1 ? &pl->part : &pl->c;
    struct { addr2 v, part; uint32_t m, row0, pb, chunk; } pc = {
        addr_of(&pl->v), addr_of(dst), pl->m, row0, pb, chunk};
    lsuv_status st = lsuv_dispatch(ctx, "mgs_coeffs", &pl->coeff_wg, 1, &pc, sizeof pc,
                                   div_up(row0, COEFF_TILE), nchunks, 1);
    if (st == LSUV_OK && nchunks > 1) {
        uint32_t count = pb * row0;
        struct { addr2 part, c; uint32_t count, nchunks; } pr = {
            addr_of(&pl->part), addr_of(&pl->c), count, nchunks};
        st = lsuv_dispatch(ctx, "mgs_reduce", NULL, 0, &pr, sizeof pr, lsuv_groups(ctx, count, 256), 1, 1);
    }
    if (st != LSUV_OK)
        return st;
    struct { addr2 v, c; uint32_t m, row0, pb; } pp = {addr_of(&pl->v), addr_of(&pl->c), pl->m, row0, pb};
    return lsuv_dispatch(ctx, "mgs_project", &pl->project_nc, 1, &pp, sizeof pp,
                         lsuv_groups(ctx, pl->m, 256 * pl->project_nc), 1, 1);
}

static lsuv_status panel_pass(lsuv_context *ctx, const ortho_plan *pl, uint32_t row0, uint32_t pb)
{
    struct { addr2 v, part_in, part_out; uint32_t m, row0, pb, step, chunk, nchunks; } pc = {
        addr_of(&pl->v), addr_of(&pl->dots[1]), addr_of(&pl->dots[0]), pl->m, row0, pb, ALL_STEPS,
        pl->m, 1};
    if (pl->panel_chunks == 1)
        return lsuv_dispatch(ctx, "mgs_panel", NULL, 0, &pc, sizeof pc, 1, 1, 1);
    pc.chunk = pl->panel_chunk;
    pc.nchunks = pl->panel_chunks;
    for (uint32_t s = 0; s <= pb; s++) { /* step s reads what step s-1 wrote */
        pc.step = s;
        pc.part_in = addr_of(&pl->dots[(s + 1) % 2]);
        pc.part_out = addr_of(&pl->dots[s % 2]);
        lsuv_status st = lsuv_dispatch(ctx, "mgs_panel", NULL, 0, &pc, sizeof pc, pl->panel_chunks, 1, 1);
        if (st != LSUV_OK)
            return st;
    }
    return LSUV_OK;
}

static lsuv_status transpose(lsuv_context *ctx, const lsuv_buffer *src, const lsuv_buffer *dst,
                             uint32_t rows, uint32_t cols)
{
    struct { addr2 src, dst; uint32_t rows, cols; } pc = {addr_of(src), addr_of(dst), rows, cols};
    uint64_t tiles = (uint64_t)div_up(rows, 32) * div_up(cols, 32);
    return lsuv_dispatch(ctx, "mgs_transpose", NULL, 0, &pc, sizeof pc, lsuv_groups(ctx, tiles, 1), 1, 1);
}

static lsuv_status record(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows, uint32_t cols)
{
    ortho_plan pl = {0};
    int columns = rows > cols;
    pl.n = columns ? cols : rows;
    pl.m = columns ? rows : cols;
    uint64_t elems = (uint64_t)rows * cols;
    lsuv_status st = LSUV_OK;

    pl.v = *a;
    if (columns && (st = lsuv_scratch(ctx, elems * 4, &pl.v)) != LSUV_OK)
        return st;
    /* the largest partial-sum buffer any panel needs */
    uint64_t part_elems = 1;
    for (uint32_t row0 = PANEL; row0 < pl.n; row0 += PANEL) {
        uint32_t chunk, nchunks, pb = pl.n - row0 < PANEL ? pl.n - row0 : PANEL;
        coeff_chunks(row0, pl.m, &chunk, &nchunks);
        if (nchunks > 1 && (uint64_t)nchunks * pb * row0 > part_elems)
            part_elems = (uint64_t)nchunks * pb * row0;
    }
    /* CPU drivers run a workgroup on one core with short vectors: more columns per
     * thread share each load, fewer invocations meet at each barrier; GPUs want many
     * workgroups and threads instead. */
    int cpu = ctx->info.type == LSUV_DEVICE_CPU;
    pl.project_nc = cpu ? 4 : 1;
    pl.coeff_wg = cpu ? 64 : 256;
    pl.panel_chunks = 1;
    if (pl.m >= PANEL_CHUNK) {
        pl.panel_chunks = div_up(pl.m, PANEL_CHUNK / 2);
        if (pl.panel_chunks > PANEL_MAX_CHUNKS)
            pl.panel_chunks = PANEL_MAX_CHUNKS;
        pl.panel_chunk = div_up(pl.m, pl.panel_chunks);
        pl.panel_chunk = (pl.panel_chunk + 255) / 256 * 256;
        pl.panel_chunks = div_up(pl.m, pl.panel_chunk);
    }
    if ((st = lsuv_scratch(ctx, (uint64_t)PANEL * pl.n * 4, &pl.c)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, part_elems * 4, &pl.part)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, (uint64_t)PANEL_MAX_CHUNKS * PANEL * 4, &pl.dots[0])) != LSUV_OK ||
        (st = lsuv_scratch(ctx, (uint64_t)PANEL_MAX_CHUNKS * PANEL * 4, &pl.dots[1])) != LSUV_OK)
        return st;

    if (columns && (st = transpose(ctx, a, &pl.v, rows, cols)) != LSUV_OK)
        return st;
    for (uint32_t row0 = 0; row0 < pl.n; row0 += PANEL) {
        uint32_t pb = pl.n - row0 < PANEL ? pl.n - row0 : PANEL;
        for (int round = 0; round < 2; round++) {
            if (row0 > 0 && (st = project(ctx, &pl, row0, pb)) != LSUV_OK)
                return st;
            if ((st = panel_pass(ctx, &pl, row0, pb)) != LSUV_OK)
                return st;
        }
    }
    if (columns)
        st = transpose(ctx, &pl.v, a, cols, rows);
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
