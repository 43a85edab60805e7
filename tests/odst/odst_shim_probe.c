/* odst_shim_probe is the "unmodified program" of the shim tests: it calls getsockopt() on an
 * inherited descriptor exactly as a proxy written for iptables does, knowing nothing of xredir,
 * and prints what it got. Usage: odst_shim_probe FD LEVEL OPTNAME OPTLEN
 * Output: "ok optlen=N bytes=HEX" (the first 32 bytes of a buffer pre-filled with 0xaa, so
 * untouched bytes show) or "err=ERRNO". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s FD LEVEL OPTNAME OPTLEN\n", argv[0]);
    return 2;
  }
  const int fd = atoi(argv[1]);
  const int level = atoi(argv[2]);
  const int optname = atoi(argv[3]);
  socklen_t optlen = (socklen_t)strtoul(argv[4], NULL, 10);
  unsigned char buf[256];
  memset(buf, 0xaa, sizeof(buf));
  if (getsockopt(fd, level, optname, buf, &optlen) != 0) {
    printf("err=%d\n", errno);
    return 0;
  }
  printf("ok optlen=%u bytes=", (unsigned)optlen);
  for (int i = 0; i < 32; ++i) printf("%02x", buf[i]);
  printf("\n");
  return 0;
}
