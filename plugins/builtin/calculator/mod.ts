/**
 * The calculator plugin: a small recursive-descent parser for arithmetic, so
 * an agent gets exact answers without a JavaScript `eval`.
 *
 * @module
 */

import { definePlugin } from "../../plugin.ts";

const FUNCTIONS: Record<string, (...xs: number[]) => number> = {
  sqrt: Math.sqrt,
  abs: Math.abs,
  min: Math.min,
  max: Math.max,
  round: Math.round,
  floor: Math.floor,
  ceil: Math.ceil,
  log: Math.log,
  exp: Math.exp,
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
};
const CONSTANTS: Record<string, number> = { pi: Math.PI, e: Math.E };

/**
 * Evaluates an arithmetic expression.
 *
 * @param text The expression.
 * @returns Its value.
 * @throws {Error} With the position of the first thing it cannot read.
 */
export function evaluate(text: string): number {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at position ${i + 1} of "${text}"`);
  };
  const space = () => {
    while (text[i] === " " || text[i] === "\t") i++;
  };
  const eat = (c: string) => {
    space();
    if (text[i] === c) {
      i++;
      return true;
    }
    return false;
  };
  const primary = (): number => {
    space();
    if (eat("(")) {
      const v = sum();
      if (!eat(")")) fail('Expected ")"');
      return v;
    }
    if (eat("-")) return -power();
    if (eat("+")) return power();
    const num = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(text.slice(i));
    if (num) {
      i += num[0].length;
      return Number(num[0]);
    }
    const word = /^[a-z]+/.exec(text.slice(i));
    if (word) {
      i += word[0].length;
      if (Object.hasOwn(CONSTANTS, word[0])) return CONSTANTS[word[0]]!;
      if (!Object.hasOwn(FUNCTIONS, word[0])) fail(`Unknown name "${word[0]}"`);
      if (!eat("(")) fail(`Expected "(" after ${word[0]}`);
      const args = [sum()];
      while (eat(",")) args.push(sum());
      if (!eat(")")) fail('Expected ")"');
      return FUNCTIONS[word[0]]!(...args);
    }
    return fail(i >= text.length ? "Unexpected end" : `Unexpected "${text[i]}"`);
  };
  const power = (): number => {
    const base = primary();
    return eat("^") ? base ** power() : base;
  };
  const product = (): number => {
    let v = power();
    for (;;) {
      if (eat("*")) v *= power();
      else if (eat("/")) v /= power();
      else if (eat("%")) v %= power();
      else return v;
    }
  };
  const sum = (): number => {
    let v = product();
    for (;;) {
      if (eat("+")) v += product();
      else if (eat("-")) v -= product();
      else return v;
    }
  };
  const value = sum();
  space();
  if (i < text.length) fail(`Unexpected "${text[i]}"`);
  return value;
}

export default definePlugin({
  tools: {
    evaluate: (input: { expression: string }, context) => {
      const value = evaluate(input.expression);
      if (!Number.isFinite(value)) throw new Error(`"${input.expression}" has no finite value`);
      const precision = Number(context.config.precision ?? 12);
      return { value: Number(value.toPrecision(Math.min(Math.max(precision, 1), 17))) };
    },
  },
});
