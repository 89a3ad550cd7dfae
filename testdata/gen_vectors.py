#!/usr/bin/env python3
"""Known-answer vectors for the Ferro core, computed by an independent implementation.

This script re-implements the parts of PROTOCOL.md that the vectors pin (HASH160,
bech32m, transaction encoding, txid, sighash v2 and block verdicts, the network
parameter encoding (rules_version first), merkle root, subsidy, retarget) in plain
Python with big integers, and signs with python-ecdsa (RFC 6979, low-S). The Rust tests
load the JSON files it writes and must agree byte for byte.

Regenerate: pip install ecdsa==0.19.2 && python3 testdata/gen_vectors.py
(for example in a virtualenv: python3 -m venv /tmp/venv && /tmp/venv/bin/pip install
ecdsa==0.19.2 && /tmp/venv/bin/python testdata/gen_vectors.py). Run it again after
re-making genesis/devnet.json: the vectors sign over the devnet genesis hash.
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


SECP_P = 2**256 - 2**32 - 977


def valid_pubkey(pub):
    """PROTOCOL.md section 2: 33 bytes, 02/03 prefix, x < p and on the curve."""
    if len(pub) != 33 or pub[0] not in (2, 3):
        return False
    x = int.from_bytes(pub[1:], "big")
    if x >= SECP_P:
        return False
    rhs = (pow(x, 3, SECP_P) + 7) % SECP_P
    return pow(rhs, (SECP_P - 1) // 2, SECP_P) in (0, 1)


def sighash_v2(genesis_hash, tx, spent):
    """SHA256d(genesis_hash || E || S): S is value u64 || pubkey_hash per input, no count."""
    assert len(spent) == len(tx["inputs"])
    s = b"".join(u64(o["value"]) + bytes.fromhex(o["pubkey_hash"]) for o in spent)
    return sha256d(bytes.fromhex(genesis_hash) + encode_tx(tx, with_signatures=False) + s)


def sign_digest(secret, digest):
    import ecdsa
    from ecdsa.util import sigencode_string

    n = ecdsa.SECP256k1.order
    sk = ecdsa.SigningKey.from_string(secret, curve=ecdsa.SECP256k1)
    sig = sk.sign_digest_deterministic(digest, hashfunc=hashlib.sha256, sigencode=sigencode_string)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if s > (n - 1) // 2:
        s = n - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(pub, digest, sig):
    import ecdsa

    n = ecdsa.SECP256k1.order
    if not valid_pubkey(pub):
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (0 < r < n and 0 < s <= (n - 1) // 2):
        return False
    vk = ecdsa.VerifyingKey.from_string(pub, curve=ecdsa.SECP256k1)
    try:
        return vk.verify_digest(sig, digest, sigdecode=ecdsa.util.sigdecode_string)
    except ecdsa.BadSignatureError:
        return False


def pubkey_of(secret):
    import ecdsa

    sk = ecdsa.SigningKey.from_string(secret, curve=ecdsa.SECP256k1)
    return sk.get_verifying_key().to_string("compressed")


def secret(i):
    return sha256d(b"ferro-vector-key-%d" % i)


def output_to(pub, value):
    return {"value": value, "pubkey_hash": hash160(pub).hex()}


def build_case(name, genesis_hash, utxos, txs, lie=None, verdict=None):
    """A block case: `utxos` are the coins before the block, `txs` the block's regular
    transactions in order, each {inputs: [(outpoint, secret or raw pubkey)], outputs,
    lock_time}. Each transaction signs over the outputs its inputs spend as found in the
    view (utxos plus earlier transactions' outputs). `lie` = (tx index, input index, value)
    signs that transaction over a wrong value instead, as a lying node would make a wallet
    do. The verdict is worked out here, independently of the Rust code."""
    view = {(u["txid"], u["vout"]): u for u in utxos}
    out_txs = []
    fees = 0
    expected = "ok"
    for t_index, t in enumerate(txs):
        tx = {"version": 1, "inputs": [], "outputs": t["outputs"], "lock_time": t.get("lock_time", 0)}
        keys = []
        for (txid, vout), who in t["inputs"]:
            pub = pubkey_of(who) if isinstance(who, bytes) and len(who) == 32 else who["pubkey"]
            keys.append(who)
            tx["inputs"].append({"txid": txid, "vout": vout, "public_key": pub.hex()})
        spent = [{"value": view[(i["txid"], i["vout"])]["value"],
                  "pubkey_hash": view[(i["txid"], i["vout"])]["pubkey_hash"]} for i in tx["inputs"]]
        signed_over = [dict(o) for o in spent]
        if lie is not None and lie[0] == t_index:
            signed_over[lie[1]]["value"] = lie[2]
        digest = sighash_v2(genesis_hash, tx, signed_over)
        for i, who in zip(tx["inputs"], keys):
            if isinstance(who, bytes) and len(who) == 32:
                i["signature"] = sign_digest(who, digest).hex()
            else:
                i["signature"] = who["signature"].hex()
        true_digest = sighash_v2(genesis_hash, tx, spent)
        for i in tx["inputs"]:
            pub = bytes.fromhex(i["public_key"])
            assert hash160(pub).hex() == view[(i["txid"], i["vout"])]["pubkey_hash"]
            if expected == "ok" and not verify(pub, true_digest, bytes.fromhex(i["signature"])):
                expected = "bad-signature"
        enc = encode_tx(tx)
        txid = sha256d(enc).hex()
        fee = sum(o["value"] for o in spent) - sum(o["value"] for o in tx["outputs"])
        assert fee >= 0
        fees += fee
        for i in tx["inputs"]:
            del view[(i["txid"], i["vout"])]
        for vout, o in enumerate(tx["outputs"]):
            view[(txid, vout)] = {"txid": txid, "vout": vout, "value": o["value"],
                                  "pubkey_hash": o["pubkey_hash"], "height": 100, "coinbase": False}
        out_txs.append({"transaction": tx, "spent": spent, "encoding": enc.hex(), "size": len(enc),
                        "txid": txid, "sighash": true_digest.hex()})
    if verdict is not None:
        assert verdict == expected, (name, verdict, expected)
    case = {"name": name, "utxos": utxos, "transactions": out_txs, "verdict": expected}
    if expected == "ok":
        case["fees"] = fees
    return case


def utxo(tag, vout, pub_or_hash, value, height=1, coinbase=False):
    h = pub_or_hash if isinstance(pub_or_hash, str) else hash160(pub_or_hash).hex()
    return {"txid": sha256d(tag).hex(), "vout": vout, "value": value, "pubkey_hash": h,
            "height": height, "coinbase": coinbase}


def key_with_x_at_least_p():
    """A compressed key whose x is a valid curve x plus p: the same point mod p, but x >= p,
    so the encoding is not canonical and must be refused."""
    x = 1
    while True:
        rhs = (pow(x, 3, SECP_P) + 7) % SECP_P
        if pow(rhs, (SECP_P - 1) // 2, SECP_P) == 1 and x + SECP_P < 2**256:
            break
        x += 1
    pub = bytes([2]) + (x + SECP_P).to_bytes(32, "big")
    assert not valid_pubkey(pub) and valid_pubkey(bytes([2]) + x.to_bytes(32, "big"))
    return pub


def transaction_vectors():
    genesis_hash = json.load(open(os.path.join(HERE, "..", "genesis", "devnet.json")))["genesis"]["hash"]
    k0 = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe512961708279f2b3b8b5c1ec6e1c66")
    k1, k2, k3 = secret(1), secret(2), secret(3)
    p0, p1, p2, p3 = (pubkey_of(k) for k in (k0, k1, k2, k3))
    cases = []
    # The original vector: two inputs of one key (so identical signatures).
    two = [utxo(b"funding-0", 0, p0, 100_000_000), utxo(b"funding-1", 3, p0, 100_000_000)]
    two_tx = {"inputs": [((two[0]["txid"], 0), k0), ((two[1]["txid"], 3), k0)],
              "outputs": [{"value": 150_000_000, "pubkey_hash": hash160(b"recipient").hex()},
                          output_to(p0, 49_990_000)],
              "lock_time": 7}
    cases.append(build_case("two inputs of one key", genesis_hash, two, [two_tx], verdict="ok"))
    # Several inputs of three keys, values of every size.
    values = [100_000_000, 250_000_000, 30_000_000, 700_000_000, 1]
    owners = [(k1, p1), (k2, p2), (k3, p3), (k1, p1), (k2, p2)]
    several = [utxo(b"several-%d" % i, i, p, v) for i, ((_, p), v) in enumerate(zip(owners, values))]
    several_tx = {"inputs": [((u["txid"], u["vout"]), k) for u, (k, _) in zip(several, owners)],
                  "outputs": [output_to(p3, 1_000_000_000), output_to(p1, 79_990_001)]}
    cases.append(build_case("several inputs of three keys", genesis_hash, several, [several_tx],
                            verdict="ok"))
    # A child spending its parent's outputs, the parent earlier in the same block.
    funding = [utxo(b"parent-funding", 0, p1, 1_000_000_000)]
    parent = {"inputs": [((funding[0]["txid"], 0), k1)],
              "outputs": [output_to(p2, 300_000_000), output_to(p1, 699_990_000)]}
    parent_txid = build_case("tmp", genesis_hash, funding, [parent])["transactions"][0]["txid"]
    child = {"inputs": [((parent_txid, 0), k2), ((parent_txid, 1), k1)],
             "outputs": [output_to(p3, 999_980_000)]}
    cases.append(build_case("a parent earlier in the same block", genesis_hash, funding,
                            [parent, child], verdict="ok"))
    # The same child signed as if the parent's first output were worth 30 coins.
    cases.append(build_case("a child signed over a wrong value of its in-block parent",
                            genesis_hash, funding, [parent, child], lie=(1, 0, 3_000_000_000),
                            verdict="bad-signature"))
    # A mature 0-value coinbase output spent beside a funded coin: S carries value 0.
    zero = [utxo(b"zero-coinbase", 0, p1, 0, height=5, coinbase=True),
            utxo(b"zero-funding", 1, p1, 50_000_000)]
    zero_tx = {"inputs": [((zero[0]["txid"], 0), k1), ((zero[1]["txid"], 1), k1)],
               "outputs": [output_to(p2, 49_999_000)]}
    cases.append(build_case("a 0-value coinbase output spent", genesis_hash, zero, [zero_tx],
                            verdict="ok"))
    # A node lied to the signer: a 10-coin coin reported as 0.2 coins.
    lied = [utxo(b"lied-funding", 0, p1, 1_000_000_000)]
    lied_tx = {"inputs": [((lied[0]["txid"], 0), k1)], "outputs": [output_to(p2, 19_999_000)]}
    cases.append(build_case("signed over a value a node lied about", genesis_hash, lied, [lied_tx],
                            lie=(0, 0, 20_000_000), verdict="bad-signature"))
    # A key whose x is >= p: its hash is paid to, but the key itself is refused.
    bad_key = key_with_x_at_least_p()
    bad = [utxo(b"bad-key-funding", 0, bad_key, 100_000_000)]
    bad_tx = {"inputs": [((bad[0]["txid"], 0), {"pubkey": bad_key, "signature": (1).to_bytes(32, "big") * 2})],
              "outputs": [output_to(p2, 99_000_000)]}
    cases.append(build_case("a key with x >= p", genesis_hash, bad, [bad_tx],
                            verdict="bad-signature"))
    return {"genesis_hash": genesis_hash, "height": 100, "secret_keys": [k.hex() for k in (k0, k1, k2, k3)],
            "cases": cases}


def network_vector():
    """The devnet parameter encoding (PROTOCOL.md section 7), rules_version first."""
    f = json.load(open(os.path.join(HERE, "..", "genesis", "devnet.json")))
    def text(t):
        b = t.encode()
        return u32(len(b)) + b
    enc = (u32(f["rules_version"]) + text(f["name"]) + text(f["address_hrp"]) + u64(f["initial_reward"])
           + u64(f["halving_interval"]) + u64(f["target_block_time"]) + u64(f["retarget_interval"])
           + bytes.fromhex(f["pow_limit"]) + u64(f["coinbase_maturity"]) + u64(f["max_block_size"]))
    assert f["rules_version"] == 2
    assert sha256d(enc).hex() == f["genesis"]["header"]["prev_hash"], "devnet.json prev_hash"
    return {"rules_version": f["rules_version"], "encoding": enc.hex(), "params_hash": sha256d(enc).hex(),
            "genesis_hash": f["genesis"]["hash"]}


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
        "transaction.json": transaction_vectors(),
        "network.json": network_vector(),
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
