exports.impl = "node";
