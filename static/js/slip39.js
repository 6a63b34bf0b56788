// SLIP-39 (https://github.com/satoshilabs/slips/blob/master/slip-0039.md) in the browser: Shamir's secret
// sharing over GF(256) written as words, as the shamir-mnemonic package (which `ebid` uses) writes and
// reads them. generate() splits a master secret into one group of k-of-n shares; combine() reads any
// valid set of shares (one group or several) back to the master secret. Checked against SatoshiLabs'
// official vectors (tests/e2e/test_slip39_vectors.py) and against shamir-mnemonic both ways.
//
// The parts: the RS1024 checksum over 10-bit words, the wordlist (slip39_words.js), Shamir over
// GF(2^8) with the digest share at x = 254 and the secret at x = 255, and the four-round Feistel
// cipher whose round function is PBKDF2-HMAC-SHA256 (WebCrypto) with (10000 << e) / 4 iterations.

import { WORDS } from "./slip39_words.js";

const RADIX_BITS = 10;
const ID_LENGTH_BITS = 15;
const ITERATION_EXP_BITS = 4;
const ID_EXP_WORDS = 2;                 // 15 + 1 + 4 bits in two words
const CHECKSUM_WORDS = 3;
const METADATA_WORDS = ID_EXP_WORDS + 2 + CHECKSUM_WORDS;
const MIN_STRENGTH_BITS = 128;
const MIN_MNEMONIC_WORDS = METADATA_WORDS + Math.ceil(MIN_STRENGTH_BITS / RADIX_BITS);
const DIGEST_LENGTH = 4;
const SECRET_INDEX = 255;
const DIGEST_INDEX = 254;
const BASE_ITERATIONS = 10000;
const ROUNDS = 4;
export const MAX_SHARES = 16;

const encoder = new TextEncoder();
const CUSTOM_ORIG = encoder.encode("shamir");
const CUSTOM_EXTENDABLE = encoder.encode("shamir_extendable");

const WORD_INDEX = new Map(WORDS.map((word, index) => [word, index]));

/** A share or a set of shares that cannot be read or combined; the message says why. */
export class MnemonicError extends Error {
  constructor(message) { super(message); this.name = "MnemonicError"; }
}

// ---------------------------------------------------------------- RS1024

const GEN = [0xE0E040, 0x1C1C080, 0x3838100, 0x7070200, 0xE0E0009, 0x1C0C2412, 0x38086C24, 0x3090FC48,
  0x21B1F890, 0x3F3F120];

function polymod(values) {
  let chk = 1;
  for (const v of values) {
    const b = chk >>> 20;
    chk = (((chk & 0xFFFFF) << 10) ^ v) >>> 0;
    for (let i = 0; i < 10; i++) if ((b >>> i) & 1) chk = (chk ^ GEN[i]) >>> 0;
  }
  return chk;
}

export function createChecksum(data, custom) {
  const pm = polymod([...custom, ...data, 0, 0, 0]) ^ 1;
  return [2, 1, 0].map((i) => (pm >>> (10 * i)) & 1023);
}

export function verifyChecksum(data, custom) {
  return polymod([...custom, ...data]) === 1;
}

// ---------------------------------------------------------------- GF(256)

const EXP = new Uint8Array(255);
const LOG = new Uint8Array(256);
{
  let poly = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = poly;
    LOG[poly] = i;
    poly = (poly << 1) ^ poly;          // times (x + 1)
    if (poly & 0x100) poly ^= 0x11B;    // mod x^8 + x^4 + x^3 + x + 1
  }
}

function mod255(n) { return ((n % 255) + 255) % 255; }

/** f(x) from the points (share.x, share.data), byte by byte. */
function interpolate(shares, x) {
  const xs = new Set(shares.map((s) => s.x));
  if (xs.size !== shares.length) throw new MnemonicError("Invalid set of shares. Share indices must be unique.");
  const lengths = new Set(shares.map((s) => s.data.length));
  if (lengths.size !== 1) throw new MnemonicError("Invalid set of shares. All share values must have the same length.");
  const found = shares.find((s) => s.x === x);
  if (found) return Uint8Array.from(found.data);
  const logProd = shares.reduce((n, s) => n + LOG[s.x ^ x], 0);
  const result = new Uint8Array(shares[0].data.length);
  for (const share of shares) {
    const logBasis = mod255(logProd - LOG[share.x ^ x]
      - shares.reduce((n, other) => n + LOG[share.x ^ other.x], 0));
    for (let i = 0; i < result.length; i++) {
      const v = share.data[i];
      if (v !== 0) result[i] ^= EXP[(LOG[v] + logBasis) % 255];
    }
  }
  return result;
}

async function digestOf(randomPart, secret) {
  const key = await crypto.subtle.importKey("raw", randomPart, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, secret)).slice(0, DIGEST_LENGTH);
}

function randomBytes(n) { return crypto.getRandomValues(new Uint8Array(n)); }

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function splitSecret(threshold, count, secret, random = randomBytes) {
  if (threshold < 1) throw new Error("The requested threshold must be a positive integer.");
  if (threshold > count) throw new Error("The requested threshold must not exceed the number of shares.");
  if (count > MAX_SHARES) throw new Error(`The requested number of shares must not exceed ${MAX_SHARES}.`);
  if (threshold === 1) return Array.from({ length: count }, (_, i) => ({ x: i, data: Uint8Array.from(secret) }));
  const randomCount = threshold - 2;
  const shares = Array.from({ length: randomCount }, (_, i) => ({ x: i, data: random(secret.length) }));
  const randomPart = random(secret.length - DIGEST_LENGTH);
  const digest = await digestOf(randomPart, secret);
  const base = [...shares, { x: DIGEST_INDEX, data: concat(digest, randomPart) },
    { x: SECRET_INDEX, data: secret }];
  for (let i = randomCount; i < count; i++) shares.push({ x: i, data: interpolate(base, i) });
  return shares;
}

async function recoverSecret(threshold, shares) {
  if (threshold === 1) return shares[0].data;
  const secret = interpolate(shares, SECRET_INDEX);
  const digestShare = interpolate(shares, DIGEST_INDEX);
  const digest = digestShare.slice(0, DIGEST_LENGTH);
  if (!equal(digest, await digestOf(digestShare.slice(DIGEST_LENGTH), secret))) {
    throw new MnemonicError("Invalid digest of the shared secret.");
  }
  return secret;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// ---------------------------------------------------------------- the Feistel cipher

async function roundFunction(i, passphrase, e, salt, r) {
  const key = await crypto.subtle.importKey("raw", concat(Uint8Array.of(i), passphrase), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: concat(salt, r), iterations: Math.floor((BASE_ITERATIONS << e) / ROUNDS) },
    key, r.length * 8);
  return new Uint8Array(bits);
}

function saltOf(identifier, extendable) {
  return extendable ? new Uint8Array(0) : concat(CUSTOM_ORIG, Uint8Array.of(identifier >> 8, identifier & 0xFF));
}

function xor(a, b) { return a.map((v, i) => v ^ b[i]); }

async function feistel(input, passphrase, e, identifier, extendable, order) {
  if (input.length % 2 !== 0) throw new MnemonicError("The length of the master secret in bytes must be an even number.");
  let l = input.slice(0, input.length / 2);
  let r = input.slice(input.length / 2);
  const salt = saltOf(identifier, extendable);
  for (const i of order) {
    const f = await roundFunction(i, passphrase, e, salt, r);
    [l, r] = [r, xor(l, f)];
  }
  return concat(r, l);
}

export function encrypt(secret, passphrase, e, identifier, extendable) {
  return feistel(secret, passphrase, e, identifier, extendable, [0, 1, 2, 3]);
}

export function decrypt(ems, passphrase, e, identifier, extendable) {
  return feistel(ems, passphrase, e, identifier, extendable, [3, 2, 1, 0]);
}

// ---------------------------------------------------------------- words

/** `value` (a BigInt) as `length` base-1024 digits, most significant first. */
function toIndices(value, length, bits = RADIX_BITS) {
  const mask = (1n << BigInt(bits)) - 1n;
  return Array.from({ length }, (_, k) => Number((value >> BigInt((length - 1 - k) * bits)) & mask));
}

function fromIndices(indices, bits = RADIX_BITS) {
  return indices.reduce((n, i) => (n << BigInt(bits)) + BigInt(i), 0n);
}

function bytesToBig(bytes) { return bytes.reduce((n, b) => (n << 8n) + BigInt(b), 0n); }

function bigToBytes(value, length) {
  if (value >> BigInt(8 * length) !== 0n) return null;
  return Uint8Array.from({ length }, (_, k) => Number((value >> BigInt(8 * (length - 1 - k))) & 0xFFn));
}

/** A share's mnemonic from its fields (as shamir-mnemonic's Share.words). */
export function encodeShare(share) {
  const idExp = (BigInt(share.identifier) << BigInt(ITERATION_EXP_BITS + 1))
    + (BigInt(share.extendable ? 1 : 0) << BigInt(ITERATION_EXP_BITS)) + BigInt(share.iterationExponent);
  let params = BigInt(share.groupIndex);
  for (const v of [share.groupThreshold - 1, share.groupCount - 1, share.index, share.memberThreshold - 1]) {
    params = (params << 4n) + BigInt(v);
  }
  const valueWords = Math.ceil((share.value.length * 8) / RADIX_BITS);
  const data = [...toIndices(idExp, ID_EXP_WORDS), ...toIndices(params, 2),
    ...toIndices(bytesToBig(share.value), valueWords)];
  const checksum = createChecksum(data, share.extendable ? CUSTOM_EXTENDABLE : CUSTOM_ORIG);
  return [...data, ...checksum].map((i) => WORDS[i]).join(" ");
}

/** The words of a share, in lower case, one space apart (how `ebid` fingerprints a share). */
export function normalise(mnemonic) {
  return mnemonic.normalize("NFKC").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
}

/** A share's fields from its mnemonic (as shamir-mnemonic's Share.from_mnemonic); MnemonicError if invalid. */
export function decodeShare(mnemonic) {
  const words = mnemonic.toLowerCase().split(/\s+/).filter(Boolean);
  const data = words.map((word) => {
    const index = WORD_INDEX.get(word);
    if (index === undefined) throw new MnemonicError(`Invalid mnemonic word '${word}'.`);
    return index;
  });
  const prefix = words.slice(0, ID_EXP_WORDS + 2).join(" ");
  if (data.length < MIN_MNEMONIC_WORDS) {
    throw new MnemonicError(`Invalid mnemonic length. The length of each mnemonic must be at least ${MIN_MNEMONIC_WORDS} words.`);
  }
  const padding = (RADIX_BITS * (data.length - METADATA_WORDS)) % 16;
  if (padding > 8) throw new MnemonicError("Invalid mnemonic length.");
  const idExp = Number(fromIndices(data.slice(0, ID_EXP_WORDS)));
  const identifier = idExp >> (ITERATION_EXP_BITS + 1);
  const extendable = Boolean((idExp >> ITERATION_EXP_BITS) & 1);
  const iterationExponent = idExp & ((1 << ITERATION_EXP_BITS) - 1);
  if (!verifyChecksum(data, extendable ? CUSTOM_EXTENDABLE : CUSTOM_ORIG)) {
    throw new MnemonicError(`Invalid mnemonic checksum for "${prefix} ...".`);
  }
  const [groupIndex, groupThreshold, groupCount, index, memberThreshold] =
    toIndices(fromIndices(data.slice(ID_EXP_WORDS, ID_EXP_WORDS + 2)), 5, 4);
  if (groupCount < groupThreshold) {
    throw new MnemonicError(`Invalid mnemonic "${prefix} ...". Group threshold cannot be greater than group count.`);
  }
  const valueData = data.slice(ID_EXP_WORDS + 2, -CHECKSUM_WORDS);
  const value = bigToBytes(fromIndices(valueData), Math.ceil((RADIX_BITS * valueData.length - padding) / 8));
  if (value === null) throw new MnemonicError(`Invalid mnemonic padding for "${prefix} ...".`);
  return { identifier, extendable, iterationExponent, groupIndex, groupThreshold: groupThreshold + 1,
    groupCount: groupCount + 1, index, memberThreshold: memberThreshold + 1, value };
}

// ---------------------------------------------------------------- generate and combine

/**
 * Split `secret` (16 to 32 bytes, even length) into one group of `count` shares, any `threshold` of
 * which rebuild it. The defaults are shamir-mnemonic's: a random 15-bit identifier, the extendable
 * flag set, iteration exponent 1, no passphrase. `random` is for tests only.
 */
export async function generate(secret, threshold, count, { passphrase = "", extendable = true,
  iterationExponent = 1, identifier = null, random = randomBytes } = {}) {
  if (!(secret instanceof Uint8Array) || secret.length * 8 < MIN_STRENGTH_BITS || secret.length % 2) {
    throw new Error("The master secret must be at least 16 bytes and an even number of bytes.");
  }
  if (!Number.isInteger(threshold) || !Number.isInteger(count) || threshold < 1 || count < threshold
      || count > MAX_SHARES) {
    throw new Error(`The threshold must be from 1 to the number of shares, at most ${MAX_SHARES}.`);
  }
  if (threshold === 1 && count > 1) {
    throw new Error("Creating multiple member shares with member threshold 1 is not allowed.");
  }
  if (!/^[\x20-\x7e]*$/.test(passphrase)) throw new Error("The passphrase must be printable ASCII.");
  if (!Number.isInteger(iterationExponent) || iterationExponent < 0 || iterationExponent > 15) {
    throw new Error("The iteration exponent is from 0 to 15.");
  }
  const id = identifier ?? (((random(2)[0] << 8) | random(2)[1]) & ((1 << ID_LENGTH_BITS) - 1));
  const ems = await encrypt(secret, encoder.encode(passphrase), iterationExponent, id, extendable);
  // One group (group threshold 1 of 1): the group share is the EMS itself.
  const members = await splitSecret(threshold, count, ems, random);
  return members.map((m) => encodeShare({ identifier: id, extendable, iterationExponent, groupIndex: 0,
    groupThreshold: 1, groupCount: 1, index: m.x, memberThreshold: threshold, value: m.data }));
}

function sameParameters(a, b, names) { return names.every((n) => a[n] === b[n]); }

/** The master secret from a set of mnemonics (exactly the threshold of each needed group). */
export async function combine(mnemonics, passphrase = "") {
  if (!mnemonics.length) throw new MnemonicError("The set of shares is empty.");
  const shares = mnemonics.map(decodeShare);
  const common = ["identifier", "extendable", "iterationExponent", "groupThreshold", "groupCount"];
  if (!shares.every((s) => sameParameters(s, shares[0], common))) {
    throw new MnemonicError(`Invalid set of mnemonics. All mnemonics must begin with the same ${ID_EXP_WORDS} words, `
      + "must have the same group threshold and the same group count.");
  }
  const groups = new Map();
  for (const share of shares) {
    const group = groups.get(share.groupIndex) || [];
    if (group.length && group[0].memberThreshold !== share.memberThreshold) {
      throw new MnemonicError("Invalid set of mnemonics. The member_threshold parameters don't match.");
    }
    // shamir-mnemonic keeps a set of shares: the very same share given twice counts once.
    if (!group.some((g) => g.index === share.index && equal(g.value, share.value))) group.push(share);
    groups.set(share.groupIndex, group);
  }
  const { groupThreshold } = shares[0];
  if (groups.size < groupThreshold) {
    throw new MnemonicError(`Insufficient number of mnemonic groups. The required number of groups is ${groupThreshold}.`);
  }
  if (groups.size !== groupThreshold) {
    throw new MnemonicError(`Wrong number of mnemonic groups. Expected ${groupThreshold} groups, but ${groups.size} were provided.`);
  }
  const groupShares = [];
  for (const [groupIndex, group] of groups) {
    if (group.length !== group[0].memberThreshold) {
      throw new MnemonicError(`Wrong number of mnemonics. Expected ${group[0].memberThreshold} mnemonics, `
        + `but ${group.length} were provided.`);
    }
    groupShares.push({ x: groupIndex,
      data: await recoverSecret(group[0].memberThreshold, group.map((s) => ({ x: s.index, data: s.value }))) });
  }
  const ems = await recoverSecret(groupThreshold, groupShares);
  const { identifier, extendable, iterationExponent } = shares[0];
  return decrypt(ems, encoder.encode(passphrase), iterationExponent, identifier, extendable);
}
