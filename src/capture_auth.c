/* placeholder, filled in below */
#include "postgres.h"
#include "capture.h"
void
al_capture_auth_init(void)
{
}
