import { double } from "./lib/math.js";

export const name = "esm-pkg";
export { double };
export default function greet(who) {
  return `hello ${who}`;
}
