/*
 * api: lode's outside surfaces — the command line (this header) and, in
 * later issues, HTTP and MCP. Only api/ turns a base_status into an exit
 * code or an HTTP status.
 *
 * Exit codes: 0 success, 1 usage error, 2 runtime error (with a one-line
 * message on stderr).
 */
#ifndef LODE_API_H
#define LODE_API_H

enum api_exit {
	API_EXIT_OK = 0,
	API_EXIT_USAGE = 1,
	API_EXIT_RUNTIME = 2,
};

/** Run the `lode` command line. */
int api_main(int argc, char **argv);

#endif /* LODE_API_H */
