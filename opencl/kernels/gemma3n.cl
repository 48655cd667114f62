/* Gemma 3n decoder-layer kernels, OpenCL C 1.2.
 *
 * Written for two kinds of device: GPUs, and POCL running the same source on the CPU in tests.
 * POCL does not vectorise across work items when a kernel has an inner loop, so the inner loops
 * here use explicit vector types (float8, char16) and each matmul work item computes up to four
 * tokens of one output row. Half precision is storage only (vload_half): no cl_khr_fp16 needed.
 *
 * Row-wise reductions (norms, router, sparsity cutoff) use one work group of WG items per row.
 * Quantised matmuls pair weights with activations quantised per block of 32 to int8 exactly as the
 * CPU backend does (same rounding), so both backends see the same numbers. */

#ifndef WG
#define WG 64
#endif

/* ---- helpers ------------------------------------------------------------------------------- */

static float wg_sum(float v, __local float *scratch) {
        const uint lid = get_local_id(0);
        scratch[lid] = v;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint s = WG / 2; s > 0; s >>= 1) {
                if (lid < s)
                        scratch[lid] += scratch[lid + s];
                barrier(CLK_LOCAL_MEM_FENCE);
        }
        float r = scratch[0];
        barrier(CLK_LOCAL_MEM_FENCE);
        return r;
}

/* 0.5 x (1 + tanh(u)) written as x / (1 + exp(-2u)), as the CPU computes it (ops.c). */
static float gelu_tanh(float x) {
        const float sqrt_2_over_pi = 0.7978845608028654f;
        const float u = sqrt_2_over_pi * (x + 0.044715f * x * x * x);
        return x / (1.0f + exp(-2.0f * u));
}

static int hsum16(int16 v) {
        int8 a = v.lo + v.hi;
        int4 b = a.lo + a.hi;
        int2 c = b.lo + b.hi;
        return c.x + c.y;
}

/* ---- activation quantisation: one work item per block of 32 --------------------------------- */

/* x [T, x_stride] -> xd [T, nb] (half scales) and xq [T, nb*32] (int8), nb = n / 32. */
__kernel void quantize_q8_0(__global const float *x, uint x_off, uint x_stride, uint nb, __global half *xd,
                            __global char *xq) {
        const uint b = get_global_id(0), t = get_global_id(1);
        if (b >= nb)
                return;
        __global const float *src = x + x_off + (size_t) t * x_stride + b * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
                amax = fmax(amax, fabs(src[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        __global char *q = xq + ((size_t) t * nb + b) * 32;
        for (int j = 0; j < 32; j++)
                q[j] = (char) round(src[j] * id);
        vstore_half_rte(d, (size_t) t * nb + b, xd);
}

/* ---- matmuls: y[t, o] = sum_i W[o, i] x[t, i] for o < n_out, i < n_in ------------------------
 * Global size (n_out, ceil(T / 4)); each item computes row o for tokens 4g .. 4g+3. */

#define TOKENS_PER_ITEM 4

/* Q4_0 repacked: wd [rows, nb_row] scales, wq [rows, nb_row, 16] nibbles (low: values 0..15,
 * high: 16..31), minus 8. */
__kernel void mm_q4_0(__global const half *wd, __global const uchar *wq, uint nb_row, uint nb, __global const half *xd,
                      __global const char *xq, __global float *y, uint y_off, uint y_stride, uint n_out, uint T) {
        const uint o = get_global_id(0), t0 = get_global_id(1) * TOKENS_PER_ITEM;
        if (o >= n_out)
                return;
        const uint nt = min((uint) TOKENS_PER_ITEM, T - t0);
        float acc[TOKENS_PER_ITEM] = { 0.0f, 0.0f, 0.0f, 0.0f };
        __global const uchar *row = wq + (size_t) o * nb_row * 16;
        for (uint b = 0; b < nb; b++) {
                const uchar16 q = vload16(b, row);
                const int16 lo = convert_int16(q & (uchar16) 0x0f) - 8;
                const int16 hi = convert_int16(q >> (uchar16) 4) - 8;
                const float dw = vload_half((size_t) o * nb_row + b, wd);
                for (uint k = 0; k < nt; k++) {
                        const size_t xb = (size_t) (t0 + k) * nb + b;
                        const int16 xl = convert_int16(vload16(0, xq + xb * 32));
                        const int16 xh = convert_int16(vload16(1, xq + xb * 32));
                        const int s = hsum16(lo * xl + hi * xh);
                        acc[k] += dw * vload_half(xb, xd) * (float) s;
                }
        }
        for (uint k = 0; k < nt; k++)
                y[y_off + (size_t) (t0 + k) * y_stride + o] = acc[k];
}

/* Q8_0 repacked: wd [rows, nb_row] scales, wq [rows, nb_row, 32] int8. */
__kernel void mm_q8_0(__global const half *wd, __global const char *wq, uint nb_row, uint nb, __global const half *xd,
                      __global const char *xq, __global float *y, uint y_off, uint y_stride, uint n_out, uint T) {
        const uint o = get_global_id(0), t0 = get_global_id(1) * TOKENS_PER_ITEM;
        if (o >= n_out)
                return;
        const uint nt = min((uint) TOKENS_PER_ITEM, T - t0);
        float acc[TOKENS_PER_ITEM] = { 0.0f, 0.0f, 0.0f, 0.0f };
        __global const char *row = wq + (size_t) o * nb_row * 32;
        for (uint b = 0; b < nb; b++) {
                const int16 w0 = convert_int16(vload16(2 * b, row));
                const int16 w1 = convert_int16(vload16(2 * b + 1, row));
                const float dw = vload_half((size_t) o * nb_row + b, wd);
                for (uint k = 0; k < nt; k++) {
                        const size_t xb = (size_t) (t0 + k) * nb + b;
                        const int16 x0 = convert_int16(vload16(0, xq + xb * 32));
                        const int16 x1 = convert_int16(vload16(1, xq + xb * 32));
                        const int s = hsum16(w0 * x0 + w1 * x1);
                        acc[k] += dw * vload_half(xb, xd) * (float) s;
                }
        }
        for (uint k = 0; k < nt; k++)
                y[y_off + (size_t) (t0 + k) * y_stride + o] = acc[k];
}

/* Float weights [rows, row_len] against float activations x [T, x_stride]: F16 (read with
 * vload_half, so no cl_khr_fp16 is needed) and F32 differ only in how a weight is loaded. */
#define MM_FLOAT(name, wtype, load8, load1)                                                                   \
        __kernel void name(__global const wtype *w, uint row_len, uint n_in, __global const float *x, uint x_off, \
                           uint x_stride, __global float *y, uint y_off, uint y_stride, uint n_out, uint T) {   \
                const uint o = get_global_id(0), t0 = get_global_id(1) * TOKENS_PER_ITEM;                     \
                if (o >= n_out)                                                                               \
                        return;                                                                               \
                const uint nt = min((uint) TOKENS_PER_ITEM, T - t0);                                          \
                float8 acc[TOKENS_PER_ITEM] = { (float8) 0.0f, (float8) 0.0f, (float8) 0.0f, (float8) 0.0f }; \
                float tail[TOKENS_PER_ITEM] = { 0.0f, 0.0f, 0.0f, 0.0f };                                     \
                __global const wtype *row = w + (size_t) o * row_len;                                         \
                const uint n8 = n_in / 8;                                                                     \
                for (uint i = 0; i < n8; i++) {                                                               \
                        const float8 wv = load8(i, row);                                                      \
                        for (uint k = 0; k < nt; k++)                                                         \
                                acc[k] += wv * vload8(i, x + x_off + (size_t) (t0 + k) * x_stride);           \
                }                                                                                             \
                for (uint i = n8 * 8; i < n_in; i++) {                                                        \
                        const float wv = load1(i, row);                                                       \
                        for (uint k = 0; k < nt; k++)                                                         \
                                tail[k] += wv * x[x_off + (size_t) (t0 + k) * x_stride + i];                  \
                }                                                                                             \
                for (uint k = 0; k < nt; k++) {                                                               \
                        float4 s4 = acc[k].lo + acc[k].hi;                                                    \
                        float2 s2 = s4.lo + s4.hi;                                                            \
                        y[y_off + (size_t) (t0 + k) * y_stride + o] = s2.x + s2.y + tail[k];                  \
                }                                                                                             \
        }

#define LOAD1_F32(i, p) ((p)[i])
MM_FLOAT(mm_f16, half, vload_half8, vload_half)
MM_FLOAT(mm_f32, float, vload8, LOAD1_F32)

/* ---- element-wise and row-wise operations ------------------------------------------------- */

/* y[r] = x[r] * pre * rsqrt(mean((x[r] * pre)^2) + eps) (* w), rows of n contiguous values.
 * One work group per row. y may equal x. */
__kernel void rmsnorm(__global const float *x, uint x_off, __global float *y, uint y_off, __global const float *w,
                      uint has_w, uint n, float eps) {
        __local float scratch[WG];
        const size_t r = get_group_id(0);
        const uint lid = get_local_id(0);
        __global const float *xr = x + x_off + r * n;
        __global float *yr = y + y_off + r * n;
        float ss = 0.0f;
        for (uint i = lid; i < n; i += WG)
                ss += xr[i] * xr[i];
        ss = wg_sum(ss, scratch);
        const float scale = 1.0f / sqrt(ss / (float) n + eps);
        for (uint i = lid; i < n; i += WG)
                yr[i] = has_w ? xr[i] * scale * w[i] : xr[i] * scale;
}

/* NeoX RoPE on rows of heads: x [T, H, Dh]; cs [T, Dh/2, 2] holds cos and sin of each row's
 * angles (computed on the host in double precision, as the CPU backend does). */
__kernel void rope_neox(__global float *x, uint H, uint Dh, __global const float *cs) {
        const uint i = get_global_id(0), h = get_global_id(1), t = get_global_id(2);
        const uint half_dh = Dh / 2;
        if (i >= half_dh)
                return;
        __global float *xh = x + ((size_t) t * H + h) * Dh;
        const float c = cs[((size_t) t * half_dh + i) * 2], s = cs[((size_t) t * half_dh + i) * 2 + 1];
        const float a = xh[i], b = xh[i + half_dh];
        xh[i] = a * c - b * s;
        xh[i + half_dh] = b * c + a * s;
}

/* x[i] += y[i] */
__kernel void add(__global float *x, uint x_off, __global const float *y, uint y_off, uint n) {
        const size_t i = get_global_id(0);
        if (i < n)
                x[x_off + i] += y[y_off + i];
}

/* al = ((active + attn) + lo) * s, the attention residual with the LAuReL branch. */
__kernel void attn_residual(__global float *al, __global const float *active, uint active_off,
                            __global const float *attn, __global const float *lo, float s, uint n) {
        const size_t i = get_global_id(0);
        if (i < n)
                al[i] = ((active[active_off + i] + attn[i]) + lo[i]) * s;
}

/* y[t, i] = x[t, i] * scale[i] */
__kernel void scale_rows(__global float *y, __global const float *x, uint x_off, __global const float *scale, uint D,
                         uint n) {
        const size_t i = get_global_id(0);
        if (i < n)
                y[i] = x[x_off + i] * scale[i % D];
}

/* Activation sparsity (Gaussian top-k with the population std), then g = gelu(g) * u, on rows
 * of F units. One work group per row. k <= 0: no sparsity. */
__kernel void ffn_activate(__global float *g, __global const float *u, uint F, float k) {
        __local float scratch[WG];
        const size_t r = get_group_id(0);
        const uint lid = get_local_id(0);
        __global float *gr = g + r * F;
        __global const float *ur = u + r * F;
        float cutoff = 0.0f;
        if (k > 0.0f) {
                float s = 0.0f;
                for (uint i = lid; i < F; i += WG)
                        s += gr[i];
                const float mean = wg_sum(s, scratch) / (float) F;
                float v = 0.0f;
                for (uint i = lid; i < F; i += WG)
                        v += (gr[i] - mean) * (gr[i] - mean);
                const float var = wg_sum(v, scratch) / (float) F;
                cutoff = mean + k * sqrt(var);
        }
        for (uint i = lid; i < F; i += WG) {
                float x = gr[i];
                if (k > 0.0f)
                        x = x > cutoff ? x - cutoff : 0.0f;
                gr[i] = gelu_tanh(x) * ur[i];
        }
}

/* pg[t, i] = gelu(pg[t, i]) * pli[t, l*P + i] */
__kernel void ple_gate(__global float *pg, __global const float *pli, uint P, uint LP, uint layer_off, uint n) {
        const size_t i = get_global_id(0);
        if (i >= n)
                return;
        const size_t t = i / P, j = i % P;
        pg[i] = gelu_tanh(pg[i]) * pli[t * LP + layer_off + j];
}

/* h_j += u for every stream j but the active one; h [n_streams, T, D], u [T, D]. */
__kernel void add_to_streams(__global float *h, __global const float *u, uint n_streams, uint active, uint TD) {
        const size_t i = get_global_id(0);
        if (i >= TD)
                return;
        for (uint j = 0; j < n_streams; j++)
                if (j != active)
                        h[(size_t) j * TD + i] += u[i];
}

/* ---- AltUp ------------------------------------------------------------------------------- */

/* router[t, r] = tanh(sum_i W[r, i] * RMSNorm(x[t]; norm)[i] / D); one work group per row. */
__kernel void altup_router(__global const float *x, uint x_off, __global const float *norm, __global const float *w,
                           __global float *router, uint D, uint n, float eps) {
        __local float scratch[WG];
        const size_t t = get_group_id(0);
        const uint lid = get_local_id(0);
        __global const float *xr = x + x_off + t * D;
        float ss = 0.0f;
        for (uint i = lid; i < D; i += WG)
                ss += xr[i] * xr[i];
        ss = wg_sum(ss, scratch);
        const float scale = 1.0f / sqrt(ss / (float) D + eps);
        const float inv_d = 1.0f / (float) D;
        for (uint r = 0; r < n; r++) {
                float s = 0.0f;
                for (uint i = lid; i < D; i += WG)
                        s += w[r * D + i] * ((xr[i] * scale * norm[i]) * inv_d);
                s = wg_sum(s, scratch);
                if (lid == 0)
                        router[t * n + r] = tanh(s);
        }
}

/* pred_j = h_j + sum_i C[j][i] h_i with C = W_pred router; one item per (d, t). */
__kernel void altup_predict(__global const float *h, __global float *pred, __global const float *router,
                            __global const float *coef_w, uint D, uint T, uint n) {
        const uint d = get_global_id(0), t = get_global_id(1);
        if (d >= D)
                return;
        const size_t TD = (size_t) T * D;
        float r[16], hv[16];
        for (uint i = 0; i < n; i++) {
                r[i] = router[t * n + i];
                hv[i] = h[i * TD + (size_t) t * D + d];
        }
        for (uint j = 0; j < n; j++) {
                float s = 0.0f;
                for (uint i = 0; i < n; i++) {
                        float c = 0.0f;
                        for (uint k = 0; k < n; k++)
                                c += coef_w[(j * n + i) * n + k] * r[k];
                        s += c * hv[i];
                }
                pred[j * TD + (size_t) t * D + d] = hv[j] + s;
        }
}

/* h_j = pred_j + (W_corr router + 1)_j * (out - pred_active); one item per (d, t). */
__kernel void altup_correct(__global float *h, __global const float *pred, __global const float *out,
                            __global const float *router, __global const float *coef_w, uint D, uint T, uint n,
                            uint active) {
        const uint d = get_global_id(0), t = get_global_id(1);
        if (d >= D)
                return;
        const size_t TD = (size_t) T * D, at = (size_t) t * D + d;
        const float innov = out[at] - pred[active * TD + at];
        for (uint j = 0; j < n; j++) {
                float s = 0.0f;
                for (uint i = 0; i < n; i++)
                        s += coef_w[j * n + i] * router[t * n + i];
                h[j * TD + at] = pred[j * TD + at] + (s + 1.0f) * innov;
        }
}

/* ---- KV pages and attention ---------------------------------------------------------------
 * The device keeps copies of host KV pages in slots: slot s holds K [page_size, kvd] then V
 * [page_size, kvd] of one layer of one page. */

/* Row t's K and V go to slot wslot[t] at position pos[t] % page_size. */
__kernel void kv_store(__global float *kvbuf, __global const int *wslot, __global const uint *pos,
                       __global const float *k, __global const float *v, uint page_size, uint kvd) {
        const uint i = get_global_id(0), t = get_global_id(1);
        if (i >= kvd)
                return;
        __global float *slot = kvbuf + (size_t) wslot[t] * 2 * page_size * kvd;
        const size_t at = (size_t) (pos[t] % page_size) * kvd + i;
        slot[at] = k[(size_t) t * kvd + i];
        slot[(size_t) page_size * kvd + at] = v[(size_t) t * kvd + i];
}

/* Causal attention of one (row, head) per work group over keys first[t] .. pos[t], read through
 * the row's slot table (table[t, j] for page first[t] / page_size + j). Scale 1 (q and k are
 * RMS-normalised). scores holds one row of weights per (t, head). */
__kernel void attention(__global const float *q, __global const float *kvbuf, __global const int *table,
                        uint table_w, __global const uint *pos, __global const uint *first, uint page_size,
                        uint kvd, uint Dh, uint H, uint group, __global float *scores, uint scores_w,
                        __global float *o) {
        __local float scratch[WG];
        const uint h = get_group_id(0), t = get_group_id(1), lid = get_local_id(0);
        const uint p = pos[t], f = first[t], n_keys = p - f + 1, g = h / group, page0 = f / page_size;
        __global const float *qh = q + ((size_t) t * H + h) * Dh;
        __global float *sc = scores + ((size_t) t * H + h) * scores_w;
        __global const int *tab = table + (size_t) t * table_w;

        float mx = -INFINITY;
        for (uint u = lid; u < n_keys; u += WG) {
                const uint kp = f + u;
                __global const float *kh = kvbuf + (size_t) tab[kp / page_size - page0] * 2 * page_size * kvd +
                                           (size_t) (kp % page_size) * kvd + g * Dh;
                float s = 0.0f;
                for (uint i = 0; i < Dh; i++)
                        s += qh[i] * kh[i];
                sc[u] = s;
                mx = fmax(mx, s);
        }
        /* max over the group */
        scratch[lid] = mx;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint s = WG / 2; s > 0; s >>= 1) {
                if (lid < s)
                        scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
                barrier(CLK_LOCAL_MEM_FENCE);
        }
        mx = scratch[0];
        barrier(CLK_LOCAL_MEM_FENCE);
        float sum = 0.0f;
        for (uint u = lid; u < n_keys; u += WG) {
                const float e = exp(sc[u] - mx);
                sc[u] = e;
                sum += e;
        }
        /* Every item reads every weight below: publish sc[] (global memory) to the group. */
        barrier(CLK_GLOBAL_MEM_FENCE);
        sum = wg_sum(sum, scratch);
        const float inv = 1.0f / sum;
        for (uint i = lid; i < Dh; i += WG) {
                float acc = 0.0f;
                for (uint u = 0; u < n_keys; u++) {
                        const uint kp = f + u;
                        __global const float *vh = kvbuf +
                                                   (size_t) tab[kp / page_size - page0] * 2 * page_size * kvd +
                                                   (size_t) page_size * kvd + (size_t) (kp % page_size) * kvd + g * Dh;
                        acc += sc[u] * vh[i];
                }
                o[((size_t) t * H + h) * Dh + i] = acc * inv;
        }
}
