import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCsv } from "./csv.js";

test("quoted cells keep their commas, quotes and newlines", () => {
  const text = 'name,value\n"a, b",1\n"say ""hi""",2\n"two\nlines",3\n';
  assert.deepEqual(parseCsv(text), [
    ["name", "value"],
    ["a, b", "1"],
    ['say "hi"', "2"],
    ["two\nlines", "3"],
  ]);
});

test("CRLF line ends, empty cells and a last line without a newline", () => {
  assert.deepEqual(parseCsv("a,b,c\r\n1,,3\r\n,2,"), [
    ["a", "b", "c"],
    ["1", "", "3"],
    ["", "2", ""],
  ]);
});
