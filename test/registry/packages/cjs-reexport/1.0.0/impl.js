exports.alpha = 1;
exports.beta = 2;
