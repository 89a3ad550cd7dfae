#!/usr/bin/env python3
"""Known-answer vectors for the Ferro core, computed by an independent implementation.

This script re-implements the parts of PROTOCOL.md that the vectors pin (HASH160,
bech32m, transaction encoding, txid, sighash, merkle root, subsidy, retarget) in plain
Python with big integers, and signs with python-ecdsa (RFC 6979, low-S). The Rust tests
load the JSON files it writes and must agree byte for byte.

Regenerate: pip install ecdsa==0.19.2 && python3 testdata/gen_vectors.py
"""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def sha256d(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def hash160(b):
    return hashlib.new("ripemd160", hashlib.sha256(b).digest()).digest()


def u32(v):
    return v.to_bytes(4, "little")


def u64(v):
    return v.to_bytes(8, "little")


# --- bech32m (BIP 350 reference algorithm) -------------------------------------------
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32M_CONST = 0x2BC830A3


def polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk


def hrp_expand(hrp):
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def bech32m_decode(s):
    if any(ord(x) < 33 or ord(x) > 126 for x in s):
        return None
    if s.lower() != s and s.upper() != s:
        return None
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s) or len(s) > 90:
        return None
    if not all(x in CHARSET for x in s[pos + 1:]):
        return None
    hrp = s[:pos]
    data = [CHARSET.find(x) for x in s[pos + 1:]]
    if polymod(hrp_expand(hrp) + data) != BECH32M_CONST:
        return None
    return hrp, data[:-6]


def bech32m_encode(hrp, data5):
    values = hrp_expand(hrp) + data5
    pm = polymod(values + [0] * 6) ^ BECH32M_CONST
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data5 + checksum)


def to5(b):
    acc, bits, out = 0, 0, []
    for x in b:
        acc = (acc << 8) | x
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


BIP350_VALID = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
BIP350_INVALID = [
    ("\x201xj0phk", "hrp character out of range"),
    ("\x7f1g6xzxy", "hrp character out of range"),
    ("\x801vctc34", "hrp character out of range"),
    ("an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4", "overall max length exceeded"),
    ("qyrz8wqd2c9m", "no separator character"),
    ("1qyrz8wqd2c9m", "empty hrp"),
    ("y1b0jsk6g", "invalid data character"),
    ("lt1igcx5c0", "invalid data character"),
    ("in1muywd", "too short checksum"),
    ("mm1crxm3i", "invalid character in checksum"),
    ("au1s5cgom", "invalid character in checksum"),
    ("M1VUXWEZ", "checksum calculated with uppercase form of hrp"),
    ("16plkw9", "empty hrp"),
    ("1p2gdwpf", "empty hrp"),
]
# BIP 173 (bech32, not bech32m) valid strings: their checksums must be refused.
BIP173_VALID = [
    "A12UEL5L",
    "a12uel5l",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
]


def bech32m_vectors():
    for s in BIP350_VALID:
        assert bech32m_decode(s) is not None, s
    for s, _ in BIP350_INVALID:
        assert bech32m_decode(s) is None, s
    for s in BIP173_VALID:
        assert bech32m_decode(s) is None, s
    addresses = []
    for i, hrp in enumerate(["fdev", "fmain", "tf"]):
        h = hash160(bytes([i]))
        addresses.append({"hrp": hrp, "pubkey_hash": h.hex(), "address": bech32m_encode(hrp, to5(h))})
    return {
        "valid": BIP350_VALID,
        "invalid": [{"string": s, "reason": r} for s, r in BIP350_INVALID],
        "bech32_not_bech32m": BIP173_VALID,
        "addresses": addresses,
    }


# --- transactions --------------------------------------------------------------------
def encode_tx(tx, with_signatures=True):
    out = u32(tx["version"]) + u32(len(tx["inputs"]))
    for i in tx["inputs"]:
        out += bytes.fromhex(i["txid"]) + u32(i["vout"]) + bytes.fromhex(i["public_key"])
        if with_signatures:
            out += bytes.fromhex(i["signature"])
    out += u32(len(tx["outputs"]))
    for o in tx["outputs"]:
        out += u64(o["value"]) + bytes.fromhex(o["pubkey_hash"])
    out += u32(tx["lock_time"])
    return out


def transaction_vector():
    import ecdsa
    from ecdsa.util import sigencode_string

    n = ecdsa.SECP256k1.order
    genesis_hash = json.load(open(os.path.join(HERE, "..", "genesis", "devnet.json")))["genesis"]["hash"]
    secret = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe512961708279f2b3b8b5c1ec6e1c66")
    sk = ecdsa.SigningKey.from_string(secret, curve=ecdsa.SECP256k1)
    pub = sk.get_verifying_key().to_string("compressed")
    tx = {
        "version": 1,
        "inputs": [
            {"txid": sha256d(b"funding-0").hex(), "vout": 0, "public_key": pub.hex()},
            {"txid": sha256d(b"funding-1").hex(), "vout": 3, "public_key": pub.hex()},
        ],
        "outputs": [
            {"value": 150_000_000, "pubkey_hash": hash160(b"recipient").hex()},
            {"value": 49_990_000, "pubkey_hash": hash160(pub).hex()},
        ],
        "lock_time": 7,
    }
    sighash = sha256d(bytes.fromhex(genesis_hash) + encode_tx(tx, with_signatures=False))
    sig = sk.sign_digest_deterministic(sighash, hashfunc=hashlib.sha256, sigencode=sigencode_string)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if s > (n - 1) // 2:
        s = n - s
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    for i in tx["inputs"]:
        i["signature"] = sig.hex()
    enc = encode_tx(tx)
    return {
        "genesis_hash": genesis_hash,
        "secret_key": secret.hex(),
        "transaction": tx,
        "encoding": enc.hex(),
        "size": len(enc),
        "txid": sha256d(enc).hex(),
        "sighash": sighash.hex(),
    }


# --- merkle --------------------------------------------------------------------------
def merkle(leaves):
    level = list(leaves)
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            nxt.append(sha256d(level[i] + level[i + 1]) if i + 1 < len(level) else level[i])
        level = nxt
    return level[0]


def merkle_vectors():
    out = []
    for count in range(1, 6):
        leaves = [sha256d(bytes([i])) for i in range(count)]
        out.append({"txids": [l.hex() for l in leaves], "root": merkle(leaves).hex()})
    return out


# --- subsidy and retarget -------------------------------------------------------------
def subsidy(initial, halving, h):
    shift = h // halving
    return 0 if shift >= 64 else initial >> shift


def subsidy_vectors():
    cases = []
    for initial, halving in [(5_000_000_000, 210_000), (5_000_000_000, 1), (2_100_000_000_000_000, 3)]:
        heights = sorted({0, 1, halving - 1, halving, 2 * halving - 1, 2 * halving, 32 * halving,
                          33 * halving - 1, 63 * halving, 64 * halving - 1, 64 * halving, 100 * halving})
        for h in heights:
            cases.append({"initial_reward": initial, "halving_interval": halving, "height": h,
                          "subsidy": subsidy(initial, halving, h)})
    return cases


def retarget(prev, actual, R, T, pow_limit):
    expected = (R - 1) * T
    actual = max(expected // 4, min(expected * 4, actual))
    return max(1, min(pow_limit, prev * actual // expected))


def retarget_vectors():
    limit16 = (1 << 240) - 1
    cases = [
        # name, prev_target, actual, R, T, pow_limit
        ("on schedule", limit16 >> 4, 190, 20, 10, limit16),
        ("half the time", limit16 >> 4, 95, 20, 10, limit16),
        ("fast: clamped at expected/4", limit16 >> 4, 1, 20, 10, limit16),
        ("exactly expected/4", limit16 >> 4, 47, 20, 10, limit16),
        ("slow: clamped at expected*4", limit16 >> 8, 10**9, 20, 10, limit16),
        ("exactly expected*4", limit16 >> 8, 760, 20, 10, limit16),
        ("capped at pow_limit", limit16 >> 1, 760, 20, 10, limit16),
        ("at pow_limit already", limit16, 10**6, 20, 10, limit16),
        ("floor at one", 1, 0, 20, 10, limit16),
        ("wide product", (1 << 256) - 1, 4 * 19 * 600, 20, 600, (1 << 256) - 1),
        ("odd rounding", 0x123456789ABCDEF, 333, 7, 13, limit16),
    ]
    return [{"name": name, "prev_target": "%064x" % prev, "actual_timespan": actual,
             "retarget_interval": R, "target_block_time": T, "pow_limit": "%064x" % lim,
             "target": "%064x" % retarget(prev, actual, R, T, lim)}
            for name, prev, actual, R, T, lim in cases]


def work_vectors():
    out = []
    for t in [1, 2, 0xFFFF, (1 << 240) - 1, (1 << 255), (1 << 256) - 1, 0x0000FFFF << 200]:
        out.append({"target": "%064x" % t, "work": "%064x" % ((1 << 256) // (t + 1))})
    return out


def hash160_vectors():
    g = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    return [{"input": b.hex(), "hash160": hash160(b).hex(), "sha256d": sha256d(b).hex()}
            for b in [b"", b"abc", g, bytes(range(256))]]


def main():
    vectors = {
        "hash160.json": hash160_vectors(),
        "bech32m.json": bech32m_vectors(),
        "transaction.json": transaction_vector(),
        "merkle.json": merkle_vectors(),
        "subsidy.json": subsidy_vectors(),
        "retarget.json": retarget_vectors(),
        "work.json": work_vectors(),
    }
    for name, data in vectors.items():
        with open(os.path.join(HERE, name), "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
