/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include "virq/virq.h"

int main(void)
{
	printf("virq %s\n", virq_version());
	return 0;
}
