package io.kindling.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.kindling.event.v1.Attribute;
import io.kindling.event.v1.Event;
import io.kindling.probe.v1.EventFilter;
import io.kindling.probe.v1.GetInfoResponse;
import io.kindling.probe.v1.SubscribeRequest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client against the service on the real kernel: a process this test
 * starts is seen exec'ing, at the right wall-clock time. Needs what the
 * service needs (root, tracefs, BCC); skipped otherwise, unless
 * KINDLING_REQUIRE_KERNEL=1 makes that a failure.
 */
class LiveKernelTest {
  @TempDir Path directory;

  @BeforeAll
  static void kernelPathRuns() throws Exception {
    // `kindling-probe check` runs the checks `serve` starts with.
    Process check = new ProcessBuilder(ProbeService.PROBE.toString(), "check").redirectErrorStream(true).start();
    String out = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (check.waitFor() != 0) {
      if ("1".equals(System.getenv("KINDLING_REQUIRE_KERNEL"))) {
        fail("KINDLING_REQUIRE_KERNEL=1 but the kernel path cannot run:\n" + out);
      }
      Assumptions.abort("needs the kernel path: " + out.strip());
    }
  }

  @Test
  void seesAChildProcessExecAtTheWallClockTime() throws IOException, InterruptedException {
    long self = ProcessHandle.current().pid();
    SubscribeRequest request =
        SubscribeRequest.newBuilder()
            .addAllowList(EventFilter.newBuilder().addNames("process_exec").addProcessTrees((int) self))
            .build();
    try (ProbeService service = ProbeService.kernel(directory);
        KindlingClient client = KindlingClient.connect(service.socket);
        Subscription stream = client.subscribe(request, Duration.ofSeconds(30))) {
      GetInfoResponse info = client.getInfo(Duration.ofSeconds(10));
      // Start processes until one is seen: the kernel starts capturing for
      // the stream a moment after the call.
      AtomicBoolean seen = new AtomicBoolean();
      Thread starter =
          new Thread(
              () -> {
                while (!seen.get()) {
                  try {
                    new ProcessBuilder("/bin/true").start().waitFor();
                    Thread.sleep(200);
                  } catch (IOException | InterruptedException e) {
                    return;
                  }
                }
              });
      starter.setDaemon(true);
      Instant before = Instant.now();
      starter.start();
      // The JVM starts children through its jspawnhelper, which then execs
      // the program: two process_exec events per child.
      KindlingEvent exec = null;
      long seq = 0;
      while (exec == null && stream.hasNext()) {
        if (stream.next() instanceof KindlingEvent event) {
          assertEquals(++seq, event.seq(), "numbered from 1, without gaps");
          if (filename(event.event()).equals("/bin/true")) {
            exec = event;
          }
        }
      }
      seen.set(true);
      Instant after = Instant.now();
      assertTrue(exec != null, "no process_exec:\n" + service.log());
      Event event = exec.event();
      assertEquals("process_exec", event.getName());
      assertEquals(self, event.getThread().getPpid(), "a child of this JVM");
      Instant time = exec.time();
      assertTrue(!time.isBefore(before.minusMillis(50)) && !time.isAfter(after.plusMillis(50)),
          time + " not within " + before + " .. " + after);
      // GetInfo's boot time gives the same wall clock, to within the
      // clock's drift between the two estimates.
      Duration skew = Duration.between(WallClock.time(info.getBootTime(), event), time).abs();
      assertTrue(skew.toMillis() < 50, "skew " + skew);
    }
  }

  static String filename(Event event) {
    return event.getAttributesList().stream()
        .filter(a -> a.getKey().equals("filename"))
        .map(Attribute::getStringValue)
        .findFirst()
        .orElse("");
  }
}
