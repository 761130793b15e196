import { name as a } from "dep-a";
import { name as b } from "dep-b";
import { name as c } from "dep-c";
import { name as d } from "dep-d";
import { name as e } from "dep-e";

export const names = [a, b, c, d, e];
