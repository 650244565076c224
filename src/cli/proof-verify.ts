// Offline check of a downloaded proof (docs/proofs.md): record hashes, chain links, the gateway's
// anchor signature and the actors' signatures. Needs no gateway and no database.
//   npm run proof:verify -- FILE [--jwks JWKS_FILE]
// Exit 0: OK. Exit 1: a broken link (named). Exit 64: usage or unreadable file.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import { verifyProofExport } from '../modules/proofs/proof-verify';

const usage = 'usage: npm run proof:verify -- FILE [--jwks JWKS_FILE]';
const MAX_FILE_BYTES = 64 * 1024 * 1024;

function readJson(file: string, what: string): unknown {
  const size = fs.statSync(file).size;
  if (size > MAX_FILE_BYTES) throw new Error(`${what} ${file} is larger than ${MAX_FILE_BYTES} bytes`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
}

let file: string;
let jwks: { keys: JWK[] } | undefined;
try {
  const { values, positionals } = parseArgs({ options: { jwks: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new Error('give exactly one proof file');
  file = positionals[0]!;
  if (values.jwks) {
    const set = readJson(values.jwks, 'JWKS') as { keys?: unknown };
    if (!Array.isArray(set.keys)) throw new Error(`${values.jwks} is not a JWKS (no "keys" array)`);
    jwks = { keys: set.keys as JWK[] };
  }
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(64);
}

let exported: unknown;
try {
  exported = readJson(file, 'proof file');
} catch (err) {
  console.error(`proof:verify: cannot read ${file}: ${(err as Error).message}`);
  process.exit(64);
}

const result = await verifyProofExport(exported, { jwks });
if (result.ok) {
  process.stdout.write(
    `OK: record ${result.recordId} (seq ${result.fromSeq}) and the chain after it to seq ${result.toSeq} (${result.links} records) are intact;\n` +
      `anchored by key ${result.kid}${result.keyChecked ? ' (found in the given JWKS)' : ` (compare with ${result.jwksUrl})`};\n` +
      `actor signatures: ${result.signaturesChecked} verified, ${result.signaturesUnchecked} not checkable offline.\n`,
  );
} else {
  process.stdout.write(`BROKEN at ${result.seq === null ? 'the file' : `seq ${result.seq} (record ${result.id})`}: ${result.reason}\n`);
  process.exitCode = 1;
}
