import leaf from "leaf";

export const peerLeaf = leaf.version;
