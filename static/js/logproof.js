// Audit-log proofs checked in the browser (docs/audit-log.md): RFC 9162 leaf hashes and inclusion
// proofs, and C2SP signed-note checkpoints signed with Ed25519.
//
// Nothing here trusts the page that called it: a proof either leads to the root a checkpoint signed
// by one of the platform's published verifier keys (GET /api/log/key, "vkeys") names, or it fails.
// Hashes are 32-byte SHA-256 values in strict standard base64 (44 characters), as the log API,
// exports and receipts spell them; any other spelling is refused, as the Python verifiers refuse it.
//
// Uses WebCrypto (SHA-256, Ed25519: Chromium 137+, Firefox 129+, Safari 17+), which needs a secure
// context (https, or http on localhost). Without WebCrypto's SHA-256 it falls back to sha256.js;
// without Ed25519, verifyCheckpoint throws saying so.

import { Sha256 } from "./sha256.js";

const HASH_SIZE = 32;
const ED25519 = 0x01;          // signed-note signature type byte for Ed25519
const SIGNATURE_PREFIX = "\u2014 ";  // em dash, space
const MAX_SIGNATURES = 100;
const encoder = new TextEncoder();

export class ProofError extends Error {}

function subtle() {
  return globalThis.crypto && globalThis.crypto.subtle ? globalThis.crypto.subtle : null;
}

async function sha256(bytes) {
  const s = subtle();
  if (s) return new Uint8Array(await s.digest("SHA-256", bytes));
  return new Sha256().update(bytes).digest();
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Bytes as standard base64 with padding. */
export function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** Strict standard base64 (RFC 4648 section 4): text that does not re-encode to itself is refused. */
export function fromBase64(text, what = "value") {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new ProofError(`malformed ${what}: invalid base64`);
  }
  let raw;
  try {
    raw = atob(text);
  } catch {
    throw new ProofError(`malformed ${what}: invalid base64`);
  }
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  if (toBase64(bytes) !== text) throw new ProofError(`malformed ${what}: non-canonical base64`);
  return bytes;
}

function hashFrom(text, what) {
  const bytes = fromBase64(text, what);
  if (bytes.length !== HASH_SIZE) throw new ProofError(`${what} is ${bytes.length} bytes, expected ${HASH_SIZE}`);
  return bytes;
}

function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(0x01), left, right));
}

/** The leaf hash SHA-256(0x00 || UTF-8 entry text), base64: the entry's exact canonical JSON text. */
export async function leafHashOf(entryText) {
  const bytes = typeof entryText === "string" ? encoder.encode(entryText) : new Uint8Array(entryText);
  return toBase64(await sha256(concat(Uint8Array.of(0x00), bytes)));
}

function isSize(value) {
  return Number.isSafeInteger(value) && value >= 0;
}

/** Hashes below the split with the right border (inner) and along it (border) in PATH(index, size). */
function proofLength(index, size) {
  // Sizes are safe integers (< 2^53), beyond 32-bit operators: use BigInt for the bit arithmetic.
  let x = BigInt(index) ^ BigInt(size - 1);
  let inner = 0;
  while (x > 0n) { inner++; x >>= 1n; }
  let rest = BigInt(index) >> BigInt(inner);
  let border = 0;
  while (rest > 0n) { border += Number(rest & 1n); rest >>= 1n; }
  return inner + border;
}

/**
 * RFC 9162 section 2.1.3.2: is `leafHash` leaf `index` of the tree of `treeSize` leaves whose root is
 * `rootHash`? Hashes are base64 strings, `proof` lists the deepest sibling first. Resolves to true or
 * false; a malformed argument is false, never an exception.
 */
export async function verifyInclusion({ leafHash, index, treeSize, proof, rootHash }) {
  try {
    await checkInclusion({ leafHash, index, treeSize, proof, rootHash });
    return true;
  } catch (err) {
    if (err instanceof ProofError) return false;
    throw err;
  }
}

/** As verifyInclusion, but throws a ProofError saying what failed. */
export async function checkInclusion({ leafHash, index, treeSize, proof, rootHash }) {
  if (!isSize(index)) throw new ProofError(`leaf index must be a non-negative integer, got ${index}`);
  if (!isSize(treeSize)) throw new ProofError(`tree size must be a non-negative integer, got ${treeSize}`);
  if (index >= treeSize) throw new ProofError(`leaf index ${index} is outside a tree of size ${treeSize}`);
  if (!Array.isArray(proof)) throw new ProofError("inclusion proof must be a list of hashes");
  const leaf = hashFrom(leafHash, "leaf hash");
  const root = hashFrom(rootHash, "root hash");
  const path = proof.map((p, i) => hashFrom(p, `inclusion proof hash ${i}`));
  const expected = proofLength(index, treeSize);
  if (path.length !== expected) {
    throw new ProofError(`inclusion proof has ${path.length} hashes, expected ${expected}`);
  }
  let fn = BigInt(index);
  let sn = BigInt(treeSize - 1);
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) throw new ProofError("inclusion proof is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("inclusion proof is truncated");
  if (!equal(r, root)) throw new ProofError("root mismatch: the proof does not lead to the signed root");
}

function checkText(text, what) {
  // Signed notes are UTF-8 without ASCII control characters other than newline.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) throw new ProofError(`malformed ${what}: contains a control character`);
  }
}

function checkName(name) {
  if (!name || /[+\s]/u.test(name)) throw new ProofError(`malformed key name ${JSON.stringify(name)}`);
}

async function keyId(name, publicKey) {
  const digest = await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a, ED25519), publicKey));
  return digest.subarray(0, 4);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A note verifier key "<name>+<hex key id>+<base64(0x01 || public key)>", its key id checked. */
export async function parseVkey(text) {
  const first = text.indexOf("+");
  const second = first < 0 ? -1 : text.indexOf("+", first + 1);
  if (second < 0) throw new ProofError("malformed verifier key: expected <name>+<8 hex digits>+<base64 key>");
  const name = text.slice(0, first);
  const hexId = text.slice(first + 1, second);
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw new ProofError("malformed verifier key: bad key ID");
  checkName(name);
  const key = fromBase64(text.slice(second + 1), "verifier key");
  if (key.length !== 33 || key[0] !== ED25519) {
    throw new ProofError("malformed verifier key: not an Ed25519 (type 0x01) key");
  }
  const publicKey = key.subarray(1);
  if (hex(await keyId(name, publicKey)) !== hexId) {
    throw new ProofError(`malformed verifier key: key ID ${hexId} does not match the key`);
  }
  return { name, keyId: hexId, publicKey };
}

function splitNote(note) {
  if (typeof note !== "string") throw new ProofError("malformed note: not text");
  checkText(note, "note");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new ProofError("malformed note: no blank line before the signature lines");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block.endsWith("\n")) throw new ProofError("malformed note: no signature lines");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new ProofError("malformed note: too many signature lines");
  const signatures = lines.map((line) => {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new ProofError("malformed note: bad signature line");
    const fields = line.slice(SIGNATURE_PREFIX.length).split(" ");
    if (fields.length !== 2) throw new ProofError("malformed note: bad signature line");
    checkName(fields[0]);
    const blob = fromBase64(fields[1], "signature line");
    if (blob.length < 5) throw new ProofError("malformed note: signature too short");
    return { name: fields[0], keyId: hex(blob.subarray(0, 4)), signature: blob.subarray(4) };
  });
  return { text, signatures };
}

function parseBody(text) {
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new ProofError("malformed checkpoint: expected origin, size and root hash lines");
  const [origin, size, root] = lines;
  if (!origin) throw new ProofError("malformed checkpoint: empty origin");
  if (!/^(0|[1-9][0-9]*)$/.test(size) || !Number.isSafeInteger(Number(size))) {
    throw new ProofError(`malformed checkpoint: tree size ${JSON.stringify(size)}`);
  }
  hashFrom(root, "checkpoint root hash");
  return { origin, treeSize: Number(size), rootHash: root };
}

async function ed25519Verify(publicKey, signature, message) {
  const s = subtle();
  if (!s) throw new Error("this browser offers no WebCrypto here (it needs https or localhost)");
  let key;
  try {
    key = await s.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    if (err && err.name === "NotSupportedError") {
      throw new Error("this browser cannot verify Ed25519 signatures (WebCrypto Ed25519 is missing)");
    }
    throw new ProofError("malformed verifier key: not a valid Ed25519 public key");
  }
  return s.verify({ name: "Ed25519" }, key, signature, message);
}

/**
 * Verify a C2SP signed-note checkpoint against verifier keys (a list, or one string); resolves to
 * {origin, treeSize, rootHash (base64)} once a signature by one of the keys verifies (every line by
 * that key must verify; lines by other keys are ignored); rejects with a ProofError otherwise.
 */
export async function verifyCheckpoint(noteText, vkeys) {
  const keys = await Promise.all((typeof vkeys === "string" ? [vkeys] : Array.from(vkeys || [])).map(parseVkey));
  if (!keys.length) throw new ProofError("no verifier key given");
  const { text, signatures } = splitNote(noteText);
  const message = encoder.encode(text);
  for (const key of keys) {
    const ours = signatures.filter((s) => s.name === key.name && s.keyId === key.keyId);
    if (!ours.length) continue;
    for (const sig of ours) {
      if (!(await ed25519Verify(key.publicKey, sig.signature, message))) {
        throw new ProofError(`bad signature by ${key.name}+${key.keyId}`);
      }
    }
    return parseBody(text);
  }
  const present = signatures.map((s) => `${s.name}+${s.keyId}`).join(", ");
  throw new ProofError(`unknown key: the checkpoint is signed by ${present || "nobody"}, not a published key`);
}

/**
 * Check one answer of GET /api/log/entries/<index> against a signed checkpoint: the entry text hashes
 * to its leaf hash, the checkpoint (the answer's own, or `checkpoint` if given) verifies with `vkeys`
 * and names the answer's tree size and root, and the inclusion proof leads to that root.
 * Resolves to {ok: true, checkpoint} or {ok: false, reason}.
 */
export async function verifyEntry(answer, vkeys, checkpoint = null) {
  try {
    const signed = await verifyCheckpoint(checkpoint || answer.checkpoint, vkeys);
    if ((await leafHashOf(answer.entry)) !== answer.leaf_hash) {
      throw new ProofError("the entry's text does not hash to its leaf hash");
    }
    const entry = JSON.parse(answer.entry);
    if (entry.index !== answer.index) throw new ProofError("the entry's index is not the one asked for");
    if (signed.treeSize !== answer.tree_size || signed.rootHash !== answer.root_hash) {
      throw new ProofError("the proof is for another tree than the signed checkpoint's");
    }
    await checkInclusion({
      leafHash: answer.leaf_hash, index: answer.index, treeSize: answer.tree_size,
      proof: answer.inclusion_proof, rootHash: signed.rootHash,
    });
    return { ok: true, checkpoint: signed };
  } catch (err) {
    if (err instanceof ProofError || err instanceof SyntaxError) return { ok: false, reason: err.message };
    return { ok: false, reason: String(err && err.message ? err.message : err) };
  }
}
