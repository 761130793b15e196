exports.via = "main";
