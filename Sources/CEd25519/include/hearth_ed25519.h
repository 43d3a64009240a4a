#ifndef HEARTH_ED25519_H
#define HEARTH_ED25519_H

#include <stddef.h>
#include <stdint.h>

/// Ed25519 verification for keys that sign many messages (a remote server's events).
///
/// A key's table holds j·64^i·A for every radix-64 position i and digit j (43 × 32 points,
/// 165 KiB), so checking a signature needs 86 additions and no doublings: about a third of
/// the work of a general verification. The answer is exactly BoringSSL's (`[s]B - [k mod L]A` encodes to R, with
/// s < L): an acceptance here is one there. Callers treat a rejection as "ask BoringSSL",
/// so a table can only make a verification faster, never change its outcome.
///
/// Nothing here is constant-time: it handles public keys and signatures only.

typedef struct hearth_ed25519_table hearth_ed25519_table;

/// The table for a public key, or NULL if `public_key` is not the canonical encoding of a
/// curve point. Costs about as much as 25 verifications. Free with `hearth_ed25519_table_free`.
hearth_ed25519_table *hearth_ed25519_table_new(const uint8_t public_key[32]);
void hearth_ed25519_table_free(hearth_ed25519_table *table);

/// 1 if `signature` is valid for the table's key; 0 if not, or not provably here.
/// `digest` is SHA-512(R || public key || message), R being the signature's first half.
int hearth_ed25519_verify(const hearth_ed25519_table *table, const uint8_t signature[64],
                          const uint8_t digest[64]);

/// `hearth_ed25519_verify` for `count` signatures at once (64 bytes each in `signatures`, their
/// digests likewise in `digests`), each with its key's table (`tables[i]`, NULL for none: not
/// confirmed). They share one field inversion. `results[i]` is 1 where signature i is confirmed.
void hearth_ed25519_verify_batch(const hearth_ed25519_table *const *tables, const uint8_t *signatures,
                                 const uint8_t *digests, size_t count, uint8_t *results);

/// A 512-bit little-endian number modulo L, the order of the base point (exposed for tests).
/// Returns 0, or -1 if the reduction did not settle (never expected).
int hearth_ed25519_reduce(uint8_t out[32], const uint8_t in[64]);

#endif
