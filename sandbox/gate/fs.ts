/**
 * The file ops: `fs.read`, `fs.write`, `fs.list`. A guest path resolves
 * against the manifest's folder; it must lie inside a grant, and so must its
 * real path (symbolic links resolved through the deepest existing part).
 * Write implies read.
 *
 * @module
 */

import { posix } from "node:path";
import { isWithin } from "../../capabilities/paths.ts";
import type { EnforcedPath } from "../../protocol/grant.ts";
import { decodeBase64, encodeBase64 } from "./_base64.ts";
import { denied, GateError, invalid, io, mapIoError } from "./errors.ts";
import { type Args, type FamilyOps, type GateContext, MAX_FILE_BYTES } from "./family.ts";

/** The file calls the file ops make (Deno's, or a test's fakes). */
export interface FsIo {
  /** Like `Deno.realPathSync`. */
  realPathSync(path: string): string;
  /** Like `Deno.statSync`. */
  statSync(path: string): { isDirectory: boolean; size: number };
  /** Like `Deno.readFileSync`. */
  readFileSync(path: string): Uint8Array;
  /** Like `Deno.mkdirSync`. */
  mkdirSync(path: string, options: { recursive: boolean }): void;
  /** Like `Deno.writeFileSync`. */
  writeFileSync(path: string, data: Uint8Array, options: { append: boolean }): void;
  /** Like `Deno.readDirSync`. */
  readDirSync(
    path: string,
  ): Iterable<{ name: string; isFile: boolean; isDirectory: boolean; isSymlink: boolean }>;
  /** Like `Deno.lstatSync`. */
  lstatSync(path: string): { size: number };
}

/** The real file calls. */
export const DENO_FS: FsIo = {
  realPathSync: (p) => Deno.realPathSync(p),
  statSync: (p) => Deno.statSync(p),
  readFileSync: (p) => Deno.readFileSync(p),
  mkdirSync: (p, o) => Deno.mkdirSync(p, o),
  writeFileSync: (p, d, o) => Deno.writeFileSync(p, d, o),
  readDirSync: (p) => Deno.readDirSync(p),
  lstatSync: (p) => Deno.lstatSync(p),
};

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
      run: (args) => {
        const { path, rule } = grantFor(args.path, "read");
        const encoding = encodingOf(args.encoding);
        const data = io(() => readSmallFile(fs, path, args), String(args.path));
        return {
          value: { data: encoding === "base64" ? encodeBase64(data) : new TextDecoder().decode(data) },
          rule,
        };
      },
    },
    "fs.write": {
      run: (args) => {
        const { path, rule } = grantFor(args.path, "write");
        const bytes = bytesToWrite(args);
        io(() => {
          fs.mkdirSync(posix.dirname(path), { recursive: true });
          fs.writeFileSync(path, bytes, { append: args.append === true });
        }, String(args.path));
        return { value: { bytes: bytes.length }, rule };
      },
    },
    "fs.list": {
      run: (args) => {
        const { path, rule } = grantFor(args.path, "read");
        return { value: { entries: io(() => listFolder(fs, path), String(args.path)) }, rule };
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
): { path: string; rule: string } {
  // Write implies read: a read may use either kind of grant.
  const kinds: readonly ("read" | "write")[] = verb === "read" ? ["read", "write"] : ["write"];
  if (typeof raw !== "string" || raw.length === 0) {
    throw invalid('"path" must be a non-empty string', 'pass {"path": "notes/a.txt"}');
  }
  if (raw.includes("\0")) throw invalid('"path" contains a NUL character', "remove it");
  const path = posix.resolve(ctx.policy.baseDir, raw);
  if (!ctx.checks) return { path, rule: "unchecked" };
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
  return { path, rule: `fs.${lexical.kind}:${lexical.g.path}` };
}

function readSmallFile(fs: FsIo, path: string, args: Args): Uint8Array {
  const info = fs.statSync(path);
  if (info.isDirectory) {
    throw new GateError("ERR_INVALID_ARGS", `"${args.path}" is a folder`, "use fs.list for folders", "fs");
  }
  if (info.size > MAX_FILE_BYTES) {
    throw new GateError(
      "ERR_LIMIT",
      `"${args.path}" is ${info.size} bytes, more than ${MAX_FILE_BYTES}`,
      "read a smaller file",
      "size",
    );
  }
  return fs.readFileSync(path);
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

type Entry = { name: string; kind: "file" | "dir" | "symlink"; size: number };

function listFolder(fs: FsIo, path: string): Entry[] {
  const out: Entry[] = [];
  for (const e of fs.readDirSync(path)) {
    let size = 0;
    try {
      size = e.isFile ? fs.lstatSync(posix.join(path, e.name)).size : 0;
    } catch { /* raced away */ }
    out.push({ name: e.name, kind: e.isSymlink ? "symlink" : e.isDirectory ? "dir" : "file", size });
    if (out.length >= 10_000) break;
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
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
