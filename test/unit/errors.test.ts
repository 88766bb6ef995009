import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errorMessage } from "../../functions/errors.ts";

describe("errorMessage", () => {
  it("tells a caught value by its message, by its name when the message is empty, and anything else as text", () => {
    assert.equal(errorMessage(new Error("no route to host")), "no route to host");
    assert.equal(errorMessage(new TypeError("")), "TypeError");
    assert.equal(errorMessage("plain"), "plain");
    assert.equal(errorMessage(undefined), "undefined");
  });
});
