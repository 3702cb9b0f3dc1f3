package io.kindling.client;

import io.kindling.event.v1.Event;
import io.kindling.probe.v1.RecordingHeader;
import io.kindling.probe.v1.SubscribeResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads and writes recording files (length-delimited messages, recording.proto). */
record Recordings(RecordingHeader header, List<SubscribeResponse> responses) {
  static Recordings read(Path path) throws IOException {
    try (InputStream in = Files.newInputStream(path)) {
      RecordingHeader header = RecordingHeader.parseDelimitedFrom(in);
      List<SubscribeResponse> responses = new ArrayList<>();
      for (SubscribeResponse r; (r = SubscribeResponse.parseDelimitedFrom(in)) != null; ) {
        responses.add(r);
      }
      return new Recordings(header, responses);
    }
  }

  void write(Path path) throws IOException {
    try (OutputStream out = Files.newOutputStream(path)) {
      header.writeDelimitedTo(out);
      for (SubscribeResponse r : responses) {
        r.writeDelimitedTo(out);
      }
    }
  }

  List<Event> events() {
    return responses.stream().flatMap(r -> r.getEventsList().stream()).toList();
  }
}
