/**
 * The file ops: `fs.read`, `fs.write`, `fs.list`. A guest path resolves
 * against the manifest's folder; it must lie inside a grant, and so must its
 * real path (symbolic links resolved through the deepest existing part).
 * Write implies read. The I/O then uses the checked real path and proves that
 * what it opened is what was checked (`_fs_proof.ts`: open first, compare
 * identities, create new and rename into place, refuse hard-linked files
 * unless `hardlinks = true`), so a link swapped in meanwhile is refused as
 * `fs.race` instead of followed.
 *
 * @module
 */

import { posix } from "node:path";
import { isWithin } from "../../capabilities/paths.ts";
import type { EnforcedPath } from "../../protocol/grant.ts";
import { decodeBase64, encodeBase64 } from "./_base64.ts";
import { DENO_FS, type FsIo, listProven, readProven, type Target, writeProven } from "./_fs_proof.ts";
import { denied, GateError, invalid, io, mapIoError } from "./errors.ts";
import { type Args, type FamilyOps, type GateContext, MAX_FILE_BYTES } from "./family.ts";

export { DENO_FS, type FsHandle, type FsInfo, type FsIo } from "./_fs_proof.ts";

/**
 * The file ops of one gate.
 *
 * @param ctx The gate's Policy, checks and grants.
 * @param fs The file calls.
 * @returns The handlers of `fs.read`, `fs.write` and `fs.list`.
 */
export function fsOps(ctx: GateContext, fs: FsIo = DENO_FS): FamilyOps<"fs"> {
  const grantFor = (raw: unknown, verb: "read" | "write") => pathGrant(ctx, fs, raw, verb);
  return {
    "fs.read": {
      precheck: (args) => {
        grantFor(args.path, "read");
        encodingOf(args.encoding);
      },
      run: (args) => {
        const { target, rule } = grantFor(args.path, "read");
        const encoding = encodingOf(args.encoding);
        const data = io(() => readProven(fs, target), target.raw);
        return {
          value: { data: encoding === "base64" ? encodeBase64(data) : new TextDecoder().decode(data) },
          rule,
        };
      },
    },
    "fs.write": {
      // The checks without the write, for a write that waits for a person's approval first.
      precheck: (args) => {
        grantFor(args.path, "write");
        bytesToWrite(args);
      },
      run: (args) => {
        const { target, rule } = grantFor(args.path, "write");
        const bytes = bytesToWrite(args);
        io(() => writeProven(fs, target, { bytes, append: args.append === true }), target.raw);
        return { value: { bytes: bytes.length }, rule };
      },
    },
    "fs.list": {
      precheck: (args) => void grantFor(args.path, "read"),
      run: (args) => {
        const { target, rule } = grantFor(args.path, "read");
        return { value: io(() => listProven(fs, target), target.raw), rule };
      },
    },
  };
}

/** Resolves a guest path, and finds the grant (of the verb's kinds) that covers both it and its real path. */
function pathGrant(
  ctx: GateContext,
  fs: FsIo,
  raw: unknown,
  verb: "read" | "write",
): { target: Target; rule: string } {
  // Write implies read: a read may use either kind of grant.
  const kinds: readonly ("read" | "write")[] = verb === "read" ? ["read", "write"] : ["write"];
  if (typeof raw !== "string" || raw.length === 0) {
    throw invalid('"path" must be a non-empty string', 'pass {"path": "notes/a.txt"}');
  }
  if (raw.includes("\0")) throw invalid('"path" contains a NUL character', "remove it");
  const path = posix.resolve(ctx.policy.baseDir, raw);
  const hardlinks = ctx.policy.fs.hardlinks;
  if (!ctx.checks) return { target: { raw, real: path, checks: false, hardlinks }, rule: "unchecked" };
  const grants: { g: EnforcedPath; kind: string }[] = kinds.flatMap((k) =>
    ctx.mine(ctx.policy.fs[k]).map((g) => ({ g, kind: k }))
  );
  const lexical = grants.find(({ g }) => isWithin(g.path, path));
  if (!lexical) {
    throw denied(`"${raw}" is outside the granted folders`, {
      hint: `add the folder to [capabilities.fs] ${verb} in the manifest`,
      rule: `fs.${verb}`,
    });
  }
  // Symlinks: the real path of the target (or of its nearest existing ancestor) must stay inside a grant.
  const real = realPathOrAncestor(fs, path, raw, lexical.g.path);
  if (!grants.some(({ g }) => isWithin(g.path, real))) {
    throw denied(`"${raw}" leads through a symbolic link out of the granted folders`, {
      hint: "grant the real folder, or remove the link",
      rule: "symlink",
    });
  }
  return { target: { raw, real, checks: true, hardlinks }, rule: `fs.${lexical.kind}:${lexical.g.path}` };
}

function bytesToWrite(args: Args): Uint8Array {
  if (typeof args.data !== "string") {
    throw invalid('"data" must be a string', 'pass {"path": "out/a.txt", "data": "text"}');
  }
  const bytes = encodingOf(args.encoding) === "base64"
    ? base64(args.data)
    : new TextEncoder().encode(args.data);
  if (bytes.length > MAX_FILE_BYTES) {
    throw new GateError(
      "ERR_LIMIT",
      `The data is ${bytes.length} bytes, more than ${MAX_FILE_BYTES}`,
      "write less at a time",
      "size",
    );
  }
  return bytes;
}

function encodingOf(e: unknown): "utf8" | "base64" {
  if (e === undefined || e === "utf8") return "utf8";
  if (e === "base64") return "base64";
  throw invalid(`"encoding" must be "utf8" or "base64"`, 'leave it out for text, or pass "base64" for bytes');
}

function base64(text: string): Uint8Array {
  try {
    return decodeBase64(text);
  } catch {
    throw invalid('"data" is not valid base64', "encode the bytes as standard base64");
  }
}

/**
 * The real path of `path`, or of its nearest existing ancestor joined with the rest. Climbing past a
 * granted folder that does not exist reaches folders the sandbox may not read: that is "not found".
 */
function realPathOrAncestor(fs: FsIo, path: string, raw: string, grant: string): string {
  const tail: string[] = [];
  let p = path;
  for (;;) {
    try {
      return posix.join(fs.realPathSync(p), ...tail.reverse());
    } catch (e) {
      const refused = e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;
      if (refused && tail.length > 0 && !isWithin(grant, p)) {
        throw new GateError(
          "ERR_NOT_FOUND",
          `"${raw}" does not exist: the granted "${grant}" is missing`,
          `create "${grant}", or change the grant in the manifest's [capabilities.fs]`,
          "io",
        );
      }
      if (!(e instanceof Deno.errors.NotFound) || p === "/") throw mapIoError(e, path);
      tail.push(posix.basename(p));
      p = posix.dirname(p);
    }
  }
}
