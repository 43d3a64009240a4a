// Ed25519 verification with per-key precomputed tables. See include/hearth_ed25519.h.
//
// Field elements are five 51-bit limbs (radix 2^51) of an integer modulo p = 2^255 - 19;
// points are in extended twisted Edwards coordinates (X:Y:Z:T) with x = X/Z, y = Y/Z,
// xy = T/Z on -x^2 + y^2 = 1 + d x^2 y^2. The addition formula (Hisil, Wong, Carter and
// Dawson 2008, "add-2008-hwcd-3") is complete on this curve, so it also doubles.

#include "hearth_ed25519.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;
typedef __int128 i128;

#define MASK51 ((((uint64_t)1) << 51) - 1)

typedef struct { uint64_t v[5]; } fe;

// MARK: Field arithmetic

static void fe_zero(fe *h) { memset(h, 0, sizeof *h); }

static void fe_small(fe *h, uint64_t value) {
    fe_zero(h);
    h->v[0] = value;
}

static void fe_add(fe *h, const fe *f, const fe *g) {
    for (int i = 0; i < 5; i++) h->v[i] = f->v[i] + g->v[i];
}

// f - g, computed as f + 8p - g so that no limb goes negative: g's limbs must be below
// 2^54 - 152 (products, sums of two products; not differences).
static void fe_sub(fe *h, const fe *f, const fe *g) {
    h->v[0] = f->v[0] + ((((uint64_t)1) << 54) - 152) - g->v[0];
    for (int i = 1; i < 5; i++) h->v[i] = f->v[i] + ((((uint64_t)1) << 54) - 8) - g->v[i];
}

// Carries the five 128-bit column sums of a product into limbs below 2^51 + 2^21.
static inline void fe_from_products(fe *h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4) {
    r1 += r0 >> 51;
    r2 += r1 >> 51;
    r3 += r2 >> 51;
    r4 += r3 >> 51;
    u128 wrapped = ((u128)((uint64_t)r0 & MASK51)) + (r4 >> 51) * 19;
    h->v[0] = (uint64_t)wrapped & MASK51;
    h->v[1] = ((uint64_t)r1 & MASK51) + (uint64_t)(wrapped >> 51);
    h->v[2] = (uint64_t)r2 & MASK51;
    h->v[3] = (uint64_t)r3 & MASK51;
    h->v[4] = (uint64_t)r4 & MASK51;
}

// Limbs of the result are below 2^51 + 2^21 for inputs whose limbs are below 2^55.
static void fe_mul(fe *h, const fe *f, const fe *g) {
    const uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    const uint64_t g0 = g->v[0], g1 = g->v[1], g2 = g->v[2], g3 = g->v[3], g4 = g->v[4];
    // 2^255 = 19 (mod p): a product that reaches past limb 4 wraps around times 19.
    const uint64_t g1w = 19 * g1, g2w = 19 * g2, g3w = 19 * g3, g4w = 19 * g4;
    u128 r0 = (u128)f0 * g0 + (u128)f1 * g4w + (u128)f2 * g3w + (u128)f3 * g2w + (u128)f4 * g1w;
    u128 r1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4w + (u128)f3 * g3w + (u128)f4 * g2w;
    u128 r2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 + (u128)f3 * g4w + (u128)f4 * g3w;
    u128 r3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 + (u128)f3 * g0 + (u128)f4 * g4w;
    u128 r4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 + (u128)f3 * g1 + (u128)f4 * g0;
    fe_from_products(h, r0, r1, r2, r3, r4);
}

static void fe_sq(fe *h, const fe *f) {
    const uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    const uint64_t f0d = 2 * f0, f1d = 2 * f1, f1w = 38 * f1, f2w = 38 * f2, f3w = 38 * f3, f3n = 19 * f3, f4n = 19 * f4;
    u128 r0 = (u128)f0 * f0 + (u128)f1w * f4 + (u128)f2w * f3;
    u128 r1 = (u128)f0d * f1 + (u128)f2w * f4 + (u128)f3n * f3;
    u128 r2 = (u128)f0d * f2 + (u128)f1 * f1 + (u128)f3w * f4;
    u128 r3 = (u128)f0d * f3 + (u128)f1d * f2 + (u128)f4n * f4;
    u128 r4 = (u128)f0d * f4 + (u128)f1d * f3 + (u128)f2 * f2;
    fe_from_products(h, r0, r1, r2, r3, r4);
}

static void fe_sq_times(fe *h, const fe *f, int times) {
    fe_sq(h, f);
    for (int i = 1; i < times; i++) fe_sq(h, h);
}

// Limbs below 2^51 + 2^18, the value unchanged modulo p.
static void fe_carry(fe *h) {
    for (int i = 0; i < 4; i++) {
        h->v[i + 1] += h->v[i] >> 51;
        h->v[i] &= MASK51;
    }
    const uint64_t over = h->v[4] >> 51;
    h->v[4] &= MASK51;
    h->v[0] += 19 * over;
}

// The unique representative below p, as 32 little-endian bytes.
static void fe_tobytes(uint8_t out[32], const fe *f) {
    fe carried = *f;
    fe_carry(&carried);
    fe_carry(&carried);
    uint64_t *t = carried.v;
    // Now t < 2p. q = 1 exactly when t >= p, i.e. when t + 19 carries into bit 255.
    uint64_t q = (t[0] + 19) >> 51;
    q = (t[1] + q) >> 51;
    q = (t[2] + q) >> 51;
    q = (t[3] + q) >> 51;
    q = (t[4] + q) >> 51;
    t[0] += 19 * q;
    for (int i = 0; i < 4; i++) {
        t[i + 1] += t[i] >> 51;
        t[i] &= MASK51;
    }
    t[4] &= MASK51;
    const uint64_t words[4] = {
        t[0] | (t[1] << 51),
        (t[1] >> 13) | (t[2] << 38),
        (t[2] >> 26) | (t[3] << 25),
        (t[3] >> 39) | (t[4] << 12),
    };
    for (int w = 0; w < 4; w++) {
        for (int b = 0; b < 8; b++) out[8 * w + b] = (uint8_t)(words[w] >> (8 * b));
    }
}

// The low 255 bits of 32 little-endian bytes (the top bit is the caller's business).
static void fe_frombytes(fe *h, const uint8_t in[32]) {
    uint64_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = 0;
        for (int b = 0; b < 8; b++) w[i] |= (uint64_t)in[8 * i + b] << (8 * b);
    }
    h->v[0] = w[0] & MASK51;
    h->v[1] = ((w[0] >> 51) | (w[1] << 13)) & MASK51;
    h->v[2] = ((w[1] >> 38) | (w[2] << 26)) & MASK51;
    h->v[3] = ((w[2] >> 25) | (w[3] << 39)) & MASK51;
    h->v[4] = (w[3] >> 12) & MASK51;
}

static int fe_equal(const fe *f, const fe *g) {
    uint8_t a[32], b[32];
    fe_tobytes(a, f);
    fe_tobytes(b, g);
    return memcmp(a, b, 32) == 0;
}

static int fe_is_zero(const fe *f) {
    fe zero;
    fe_zero(&zero);
    return fe_equal(f, &zero);
}

// The "sign" of x in an encoding: the parity of its representative below p.
static int fe_is_odd(const fe *f) {
    uint8_t s[32];
    fe_tobytes(s, f);
    return s[0] & 1;
}

static void fe_neg(fe *h, const fe *f) {
    fe zero, g = *f;
    fe_zero(&zero);
    fe_carry(&g);  // f may be a difference, with limbs above what fe_sub takes
    fe_sub(h, &zero, &g);
}

// Brings limbs back below 2^51 + small (for values kept in tables).
static void fe_normalize(fe *h) {
    uint8_t s[32];
    fe_tobytes(s, h);
    fe_frombytes(h, s);
}

// z^(2^250 - 1), and z^11 on the side: the shared start of inversion and square roots.
static void fe_pow_2_250_minus_1(fe *out, fe *z11, const fe *z) {
    fe z2, z9, t0, t1, t2;
    fe_sq(&z2, z);                 // z^2
    fe_sq_times(&t0, &z2, 2);      // z^8
    fe_mul(&z9, &t0, z);           // z^9
    fe_mul(z11, &z9, &z2);         // z^11
    fe_sq(&t0, z11);               // z^22
    fe_mul(&t0, &t0, &z9);         // z^31 = z^(2^5 - 1)
    fe_sq_times(&t1, &t0, 5);
    fe_mul(&t0, &t1, &t0);         // z^(2^10 - 1)
    fe_sq_times(&t1, &t0, 10);
    fe_mul(&t1, &t1, &t0);         // z^(2^20 - 1)
    fe_sq_times(&t2, &t1, 20);
    fe_mul(&t1, &t2, &t1);         // z^(2^40 - 1)
    fe_sq_times(&t1, &t1, 10);
    fe_mul(&t0, &t1, &t0);         // z^(2^50 - 1)
    fe_sq_times(&t1, &t0, 50);
    fe_mul(&t1, &t1, &t0);         // z^(2^100 - 1)
    fe_sq_times(&t2, &t1, 100);
    fe_mul(&t1, &t2, &t1);         // z^(2^200 - 1)
    fe_sq_times(&t1, &t1, 50);
    fe_mul(out, &t1, &t0);         // z^(2^250 - 1)
}

// z^(p - 2) = z^(2^255 - 21) = 1/z.
static void fe_invert(fe *out, const fe *z) {
    fe t, z11;
    fe_pow_2_250_minus_1(&t, &z11, z);
    fe_sq_times(&t, &t, 5);        // z^(2^255 - 32)
    fe_mul(out, &t, &z11);         // z^(2^255 - 21)
}

// z^((p - 5) / 8) = z^(2^252 - 3), for square roots.
static void fe_pow_p58(fe *out, const fe *z) {
    fe t, z11;
    fe_pow_2_250_minus_1(&t, &z11, z);
    fe_sq_times(&t, &t, 2);        // z^(2^252 - 4)
    fe_mul(out, &t, z);            // z^(2^252 - 3)
}

// z^e for a 256-bit little-endian exponent (setup only).
static void fe_pow(fe *out, const fe *z, const uint8_t e[32]) {
    fe result;
    fe_small(&result, 1);
    for (int bit = 255; bit >= 0; bit--) {
        fe_sq(&result, &result);
        if ((e[bit >> 3] >> (bit & 7)) & 1) fe_mul(&result, &result, z);
    }
    *out = result;
}

// MARK: Curve constants, derived once from their definitions

static fe curve_d;        // -121665/121666
static fe curve_2d;
static fe sqrt_minus_1;   // 2^((p-1)/4)

typedef struct { fe X, Y, Z, T; } ge_p3;
typedef struct { fe y_plus_x, y_minus_x, xy_2d; } ge_affine;  // a table entry (Z = 1)
typedef struct { fe y_plus_x, y_minus_x, z, t_2d; } ge_cached;

// Signed radix-2^6 digits: 43 positions, digits in [-32, 32].
#define POSITIONS 43
#define MULTIPLES 32
struct hearth_ed25519_table { ge_affine rows[POSITIONS][MULTIPLES]; };

static hearth_ed25519_table base_table;
static int base_table_ready;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static void ensure_setup(void);

// L = 2^252 + delta, the order of the base point.
static const uint8_t delta_bytes[16] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
};
static uint8_t order_bytes[32];
static i128 delta_limbs[6];  // delta in radix 2^21

// MARK: Points

static void ge_identity(ge_p3 *h) {
    fe_zero(&h->X);
    fe_small(&h->Y, 1);
    fe_small(&h->Z, 1);
    fe_zero(&h->T);
}

static void ge_to_cached(ge_cached *c, const ge_p3 *p) {
    fe_add(&c->y_plus_x, &p->Y, &p->X);
    fe_sub(&c->y_minus_x, &p->Y, &p->X);
    c->z = p->Z;
    fe_mul(&c->t_2d, &p->T, &curve_2d);
}

static void ge_add_cached(ge_p3 *r, const ge_p3 *p, const ge_cached *q) {
    fe a, b, c, d, e, f, g, h;
    fe_sub(&a, &p->Y, &p->X);
    fe_mul(&a, &a, &q->y_minus_x);
    fe_add(&b, &p->Y, &p->X);
    fe_mul(&b, &b, &q->y_plus_x);
    fe_mul(&c, &p->T, &q->t_2d);
    fe_mul(&d, &p->Z, &q->z);
    fe_add(&d, &d, &d);
    fe_sub(&e, &b, &a);
    fe_sub(&f, &d, &c);
    fe_add(&g, &d, &c);
    fe_add(&h, &b, &a);
    fe_mul(&r->X, &e, &f);
    fe_mul(&r->Y, &g, &h);
    fe_mul(&r->T, &e, &h);
    fe_mul(&r->Z, &f, &g);
}

// p + q (subtract = 0) or p - q (subtract = 1) for a table entry q. Negating an affine point
// swaps y+x with y-x and negates 2dxy.
static void ge_add_affine(ge_p3 *r, const ge_p3 *p, const ge_affine *q, int subtract) {
    fe a, b, c, d, e, f, g, h;
    fe_sub(&a, &p->Y, &p->X);
    fe_mul(&a, &a, subtract ? &q->y_plus_x : &q->y_minus_x);
    fe_add(&b, &p->Y, &p->X);
    fe_mul(&b, &b, subtract ? &q->y_minus_x : &q->y_plus_x);
    fe_mul(&c, &p->T, &q->xy_2d);
    fe_add(&d, &p->Z, &p->Z);
    fe_sub(&e, &b, &a);
    if (subtract) {
        fe_add(&f, &d, &c);
        fe_sub(&g, &d, &c);
    } else {
        fe_sub(&f, &d, &c);
        fe_add(&g, &d, &c);
    }
    fe_add(&h, &b, &a);
    fe_mul(&r->X, &e, &f);
    fe_mul(&r->Y, &g, &h);
    fe_mul(&r->T, &e, &h);
    fe_mul(&r->Z, &f, &g);
}

// The encoding of p, given 1/Z.
static void ge_tobytes_inverted(uint8_t out[32], const ge_p3 *p, const fe *z_inverse) {
    fe x, y;
    fe_mul(&x, &p->X, z_inverse);
    fe_mul(&y, &p->Y, z_inverse);
    fe_tobytes(out, &y);
    out[31] ^= (uint8_t)(fe_is_odd(&x) << 7);
}

static void ge_tobytes(uint8_t out[32], const ge_p3 *p) {
    fe z_inverse;
    fe_invert(&z_inverse, &p->Z);
    ge_tobytes_inverted(out, p, &z_inverse);
}

// The point an encoding names, only if the encoding is canonical (y < p, and x = 0 with its
// sign bit clear); -1 otherwise.
static int ge_frombytes_canonical(ge_p3 *h, const uint8_t in[32]) {
    fe y, y2, u, v, v3, x, check, one, minus_u;
    fe_frombytes(&y, in);
    uint8_t reencoded[32];
    fe_tobytes(reencoded, &y);
    if (memcmp(reencoded, in, 31) != 0 || reencoded[31] != (in[31] & 0x7f)) return -1;
    fe_small(&one, 1);
    fe_sq(&y2, &y);
    fe_sub(&u, &y2, &one);          // y^2 - 1
    fe_mul(&v, &y2, &curve_d);
    fe_add(&v, &v, &one);           // d y^2 + 1
    // x = u v^3 (u v^7)^((p-5)/8), then fixed up by sqrt(-1) if it squares to -u/v.
    fe_sq(&v3, &v);
    fe_mul(&v3, &v3, &v);
    fe_sq(&x, &v3);
    fe_mul(&x, &x, &v);
    fe_mul(&x, &x, &u);
    fe_pow_p58(&x, &x);
    fe_mul(&x, &x, &v3);
    fe_mul(&x, &x, &u);
    fe_sq(&check, &x);
    fe_mul(&check, &check, &v);
    if (!fe_equal(&check, &u)) {
        fe_neg(&minus_u, &u);
        if (!fe_equal(&check, &minus_u)) return -1;
        fe_mul(&x, &x, &sqrt_minus_1);
    }
    const int sign = in[31] >> 7;
    if (fe_is_zero(&x) && sign) return -1;
    if (fe_is_odd(&x) != sign) fe_neg(&x, &x);
    fe_normalize(&x);
    fe_normalize(&y);
    h->X = x;
    h->Y = y;
    fe_small(&h->Z, 1);
    fe_mul(&h->T, &x, &y);
    return 0;
}

// rows[i][j] = (j + 1) * 64^i * point, in affine form.
static void build_rows(hearth_ed25519_table *table, const ge_p3 *point) {
    enum { COUNT = POSITIONS * MULTIPLES };
    ge_p3 *multiples = malloc(sizeof(ge_p3) * COUNT);
    fe *prefix = malloc(sizeof(fe) * COUNT);
    ge_p3 position = *point;
    for (int i = 0; i < POSITIONS; i++) {
        ge_cached step;
        ge_to_cached(&step, &position);
        ge_p3 *row = &multiples[MULTIPLES * i];
        row[0] = position;
        for (int j = 1; j < MULTIPLES; j++) ge_add_cached(&row[j], &row[j - 1], &step);
        // 64 * position = 32 * position + 32 * position.
        ge_cached half;
        ge_to_cached(&half, &row[MULTIPLES - 1]);
        ge_add_cached(&position, &row[MULTIPLES - 1], &half);
    }
    // All the Z inverses with one inversion (Montgomery's trick).
    prefix[0] = multiples[0].Z;
    for (int n = 1; n < COUNT; n++) fe_mul(&prefix[n], &prefix[n - 1], &multiples[n].Z);
    fe inverse;
    fe_invert(&inverse, &prefix[COUNT - 1]);
    for (int n = COUNT - 1; n >= 0; n--) {
        fe z_inverse;
        if (n > 0) {
            fe_mul(&z_inverse, &inverse, &prefix[n - 1]);
            fe_mul(&inverse, &inverse, &multiples[n].Z);
        } else {
            z_inverse = inverse;
        }
        fe x, y, xy;
        fe_mul(&x, &multiples[n].X, &z_inverse);
        fe_mul(&y, &multiples[n].Y, &z_inverse);
        ge_affine *entry = &table->rows[n / MULTIPLES][n % MULTIPLES];
        fe_add(&entry->y_plus_x, &y, &x);
        fe_sub(&entry->y_minus_x, &y, &x);
        fe_mul(&xy, &x, &y);
        fe_mul(&entry->xy_2d, &xy, &curve_2d);
        fe_normalize(&entry->y_plus_x);
        fe_normalize(&entry->y_minus_x);
        fe_normalize(&entry->xy_2d);
    }
    free(prefix);
    free(multiples);
}

// MARK: Scalars

// 21 bits of a little-endian number starting at bit 21 * index (zero past its end).
static int64_t read_limb21(const uint8_t *in, int length, int index) {
    const int bit = 21 * index, byte = bit >> 3;
    uint32_t window = 0;
    for (int b = 0; b < 4; b++) {
        if (byte + b < length) window |= (uint32_t)in[byte + b] << (8 * b);
    }
    return (int64_t)((window >> (bit & 7)) & 0x1fffff);
}

// Limbs 0..<count into [0, 2^21), carrying (with sign) into limb `count`.
static void carry21(i128 *x, int count) {
    for (int i = 0; i < count; i++) {
        i128 carry = x[i] >> 21;  // an arithmetic shift: floor division
        x[i] -= carry * ((i128)1 << 21);
        x[i + 1] += carry;
    }
}

// Limbs 0..<count into [-2^20, 2^20), carrying into limb `count`: a value of small magnitude,
// negative or not, then has zero high limbs.
static void carry21_centered(i128 *x, int count) {
    for (int i = 0; i < count; i++) {
        i128 carry = (x[i] + ((i128)1 << 20)) >> 21;
        x[i] -= carry * ((i128)1 << 21);
        x[i + 1] += carry;
    }
}

// Limb i of x (i >= 12), worth c * 2^(21 i) = c * 2^252 * 2^(21 (i - 12)), replaced by
// -c * delta * 2^(21 (i - 12)): the same value modulo L = 2^252 + delta.
static void fold_limb(i128 *x, int i) {
    const i128 c = x[i];
    x[i] = 0;
    for (int j = 0; j < 6; j++) x[i - 12 + j] -= c * delta_limbs[j];
}

int hearth_ed25519_reduce(uint8_t out[32], const uint8_t in[64]) {
    ensure_setup();
    i128 x[27] = {0};
    for (int i = 0; i < 25; i++) x[i] = read_limb21(in, 64, i);
    // Each round shrinks the value by about 2^127 until limbs 13 and up are zero.
    int settled = 0;
    for (int round = 0; round < 16 && !settled; round++) {
        settled = 1;
        for (int i = 26; i >= 13; i--) {
            if (x[i] == 0) continue;
            settled = 0;
            fold_limb(x, i);
        }
        if (!settled) carry21_centered(x, 26);
    }
    if (!settled) return -1;
    // |x| < 2^273 here; one more fold leaves |x| < 2^252, then adding L if negative puts it
    // in [0, L).
    fold_limb(x, 12);
    carry21(x, 12);
    if (x[12] < 0) {
        for (int i = 0; i < 6; i++) x[i] += delta_limbs[i];
        x[12] += 1;
        carry21(x, 12);
    }
    if (x[12] < 0 || x[12] > 1) return -1;
    memset(out, 0, 32);
    for (int i = 0; i < 13; i++) {
        const uint64_t limb = (uint64_t)x[i];
        for (int b = 0; b < 21; b++) {
            const int bit = 21 * i + b;
            if (bit < 256 && ((limb >> b) & 1)) out[bit >> 3] |= (uint8_t)(1 << (bit & 7));
        }
    }
    return 0;
}

static int scalar_is_below_order(const uint8_t s[32]) {
    for (int i = 31; i >= 0; i--) {
        if (s[i] != order_bytes[i]) return s[i] < order_bytes[i];
    }
    return 0;
}

// 43 signed radix-64 digits in [-32, 32] of a scalar below 2^253.
static void signed_digits(int8_t digits[POSITIONS], const uint8_t scalar[32]) {
    for (int i = 0; i < POSITIONS; i++) {
        const int bit = 6 * i, byte = bit >> 3;
        uint32_t window = scalar[byte];
        if (byte + 1 < 32) window |= (uint32_t)scalar[byte + 1] << 8;
        digits[i] = (int8_t)((window >> (bit & 7)) & 63);
    }
    for (int i = 0; i < POSITIONS - 1; i++) {
        const int8_t carry = (int8_t)((digits[i] + 32) >> 6);
        digits[i] = (int8_t)(digits[i] - carry * 64);
        digits[i + 1] = (int8_t)(digits[i + 1] + carry);
    }
}

static void add_digit(ge_p3 *sum, const ge_affine row[MULTIPLES], int digit) {
    if (digit > 0) ge_add_affine(sum, sum, &row[digit - 1], 0);
    else if (digit < 0) ge_add_affine(sum, sum, &row[-digit - 1], 1);
}

// MARK: Setup and entry points

static void setup(void) {
    fe numerator, denominator;
    fe_small(&numerator, 121665);
    fe_neg(&numerator, &numerator);
    fe_small(&denominator, 121666);
    fe_invert(&denominator, &denominator);
    fe_mul(&curve_d, &numerator, &denominator);
    fe_add(&curve_2d, &curve_d, &curve_d);
    fe_normalize(&curve_2d);
    // (p - 1) / 4 = 2^253 - 5.
    uint8_t exponent[32];
    memset(exponent, 0xff, 32);
    exponent[0] = 0xfb;
    exponent[31] = 0x1f;
    fe two;
    fe_small(&two, 2);
    fe_pow(&sqrt_minus_1, &two, exponent);

    memset(order_bytes, 0, 32);
    memcpy(order_bytes, delta_bytes, 16);
    order_bytes[31] = 0x10;
    for (int i = 0; i < 6; i++) delta_limbs[i] = read_limb21(delta_bytes, 16, i);

    // The base point: y = 4/5, x even.
    fe four, five, y;
    fe_small(&four, 4);
    fe_small(&five, 5);
    fe_invert(&five, &five);
    fe_mul(&y, &four, &five);
    uint8_t encoded[32];
    fe_tobytes(encoded, &y);
    ge_p3 base;
    if (ge_frombytes_canonical(&base, encoded) == 0) {
        build_rows(&base_table, &base);
        base_table_ready = 1;
    }
}

static void ensure_setup(void) { pthread_once(&setup_once, setup); }

hearth_ed25519_table *hearth_ed25519_table_new(const uint8_t public_key[32]) {
    ensure_setup();
    if (!base_table_ready) return NULL;
    ge_p3 point;
    if (ge_frombytes_canonical(&point, public_key) != 0) return NULL;
    hearth_ed25519_table *table = malloc(sizeof *table);
    if (table == NULL) return NULL;
    build_rows(table, &point);
    return table;
}

void hearth_ed25519_table_free(hearth_ed25519_table *table) { free(table); }

// [s]B - [k]A for a signature, into `point`; 0 if s is not below L (never a valid signature).
static int signature_point(ge_p3 *point, const hearth_ed25519_table *table, const uint8_t signature[64],
                           const uint8_t digest[64]) {
    const uint8_t *s = signature + 32;
    if (!base_table_ready || !scalar_is_below_order(s)) return 0;
    uint8_t k[32];
    if (hearth_ed25519_reduce(k, digest) != 0) return 0;
    int8_t s_digits[POSITIONS], k_digits[POSITIONS];
    signed_digits(s_digits, s);
    signed_digits(k_digits, k);
    // R' = [s]B - [k]A, one table entry per digit.
    ge_identity(point);
    for (int i = 0; i < POSITIONS; i++) {
        add_digit(point, base_table.rows[i], s_digits[i]);
        add_digit(point, table->rows[i], -k_digits[i]);
    }
    return 1;
}

int hearth_ed25519_verify(const hearth_ed25519_table *table, const uint8_t signature[64],
                          const uint8_t digest[64]) {
    ensure_setup();
    ge_p3 point;
    if (!signature_point(&point, table, signature, digest)) return 0;
    uint8_t encoded[32];
    ge_tobytes(encoded, &point);
    return memcmp(encoded, signature, 32) == 0;
}

void hearth_ed25519_verify_batch(const hearth_ed25519_table *const *tables, const uint8_t *signatures,
                                 const uint8_t *digests, size_t count, uint8_t *results) {
    ensure_setup();
    if (count == 0) return;
    ge_p3 *points = malloc(sizeof(ge_p3) * count);
    fe *prefix = malloc(sizeof(fe) * count);
    uint8_t *computed = malloc(count);
    if (points == NULL || prefix == NULL || computed == NULL) {
        for (size_t i = 0; i < count; i++) {
            results[i] = tables[i] != NULL && hearth_ed25519_verify(tables[i], signatures + 64 * i, digests + 64 * i);
        }
        free(points);
        free(prefix);
        free(computed);
        return;
    }
    // prefix[i] = Z_0 * ... * Z_i (a skipped signature counts as Z = 1).
    fe running;
    fe_small(&running, 1);
    for (size_t i = 0; i < count; i++) {
        computed[i] = tables[i] != NULL && signature_point(&points[i], tables[i], signatures + 64 * i, digests + 64 * i);
        if (computed[i]) fe_mul(&running, &running, &points[i].Z);
        prefix[i] = running;
    }
    // One inversion for all: walking back, inverse = 1 / (Z_0 * ... * Z_i).
    fe inverse;
    fe_invert(&inverse, &running);
    for (size_t n = count; n-- > 0;) {
        results[n] = 0;
        if (!computed[n]) continue;
        fe z_inverse;
        if (n > 0) {
            fe_mul(&z_inverse, &inverse, &prefix[n - 1]);
        } else {
            z_inverse = inverse;
        }
        fe_mul(&inverse, &inverse, &points[n].Z);
        uint8_t encoded[32];
        ge_tobytes_inverted(encoded, &points[n], &z_inverse);
        results[n] = memcmp(encoded, signatures + 64 * n, 32) == 0;
    }
    free(points);
    free(prefix);
    free(computed);
}
