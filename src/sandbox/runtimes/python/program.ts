/**
 * A Python program as the isolate that runs it gets it: the code as sent (CPython compiles it),
 * and whether it is a session's turn, which may run in the session's reused interpreter.
 */
export interface PythonProgram {
  runtime: "python";
  code: string;
  session?: true;
}
