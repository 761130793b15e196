import leaf from "leaf";

export const leafVersion = leaf.version;
