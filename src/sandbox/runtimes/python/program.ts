/** A Python program as the isolate that runs it gets it: the code as sent (CPython compiles it). */
export interface PythonProgram {
  runtime: "python";
  code: string;
}
