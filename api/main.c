/*
 * main.c: the lode executable.
 */
#include "api/api.h"

int main(int argc, char **argv)
{
	return api_main(argc, argv);
}
