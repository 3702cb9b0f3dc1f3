package io.kindling.probe.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * ProbeService streams kindling events to subscribers and reports and changes
 * what the probe captures.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class ProbeServiceGrpc {

  private ProbeServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "kindling.probe.v1.ProbeService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<io.kindling.probe.v1.SubscribeRequest,
      io.kindling.probe.v1.SubscribeResponse> getSubscribeMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Subscribe",
      requestType = io.kindling.probe.v1.SubscribeRequest.class,
      responseType = io.kindling.probe.v1.SubscribeResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<io.kindling.probe.v1.SubscribeRequest,
      io.kindling.probe.v1.SubscribeResponse> getSubscribeMethod() {
    io.grpc.MethodDescriptor<io.kindling.probe.v1.SubscribeRequest, io.kindling.probe.v1.SubscribeResponse> getSubscribeMethod;
    if ((getSubscribeMethod = ProbeServiceGrpc.getSubscribeMethod) == null) {
      synchronized (ProbeServiceGrpc.class) {
        if ((getSubscribeMethod = ProbeServiceGrpc.getSubscribeMethod) == null) {
          ProbeServiceGrpc.getSubscribeMethod = getSubscribeMethod =
              io.grpc.MethodDescriptor.<io.kindling.probe.v1.SubscribeRequest, io.kindling.probe.v1.SubscribeResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Subscribe"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.kindling.probe.v1.SubscribeRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.kindling.probe.v1.SubscribeResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ProbeServiceMethodDescriptorSupplier("Subscribe"))
              .build();
        }
      }
    }
    return getSubscribeMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.kindling.probe.v1.ConfigureRequest,
      io.kindling.probe.v1.ConfigureResponse> getConfigureMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Configure",
      requestType = io.kindling.probe.v1.ConfigureRequest.class,
      responseType = io.kindling.probe.v1.ConfigureResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.kindling.probe.v1.ConfigureRequest,
      io.kindling.probe.v1.ConfigureResponse> getConfigureMethod() {
    io.grpc.MethodDescriptor<io.kindling.probe.v1.ConfigureRequest, io.kindling.probe.v1.ConfigureResponse> getConfigureMethod;
    if ((getConfigureMethod = ProbeServiceGrpc.getConfigureMethod) == null) {
      synchronized (ProbeServiceGrpc.class) {
        if ((getConfigureMethod = ProbeServiceGrpc.getConfigureMethod) == null) {
          ProbeServiceGrpc.getConfigureMethod = getConfigureMethod =
              io.grpc.MethodDescriptor.<io.kindling.probe.v1.ConfigureRequest, io.kindling.probe.v1.ConfigureResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Configure"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.kindling.probe.v1.ConfigureRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.kindling.probe.v1.ConfigureResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ProbeServiceMethodDescriptorSupplier("Configure"))
              .build();
        }
      }
    }
    return getConfigureMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.kindling.probe.v1.GetInfoRequest,
      io.kindling.probe.v1.GetInfoResponse> getGetInfoMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetInfo",
      requestType = io.kindling.probe.v1.GetInfoRequest.class,
      responseType = io.kindling.probe.v1.GetInfoResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.kindling.probe.v1.GetInfoRequest,
      io.kindling.probe.v1.GetInfoResponse> getGetInfoMethod() {
    io.grpc.MethodDescriptor<io.kindling.probe.v1.GetInfoRequest, io.kindling.probe.v1.GetInfoResponse> getGetInfoMethod;
    if ((getGetInfoMethod = ProbeServiceGrpc.getGetInfoMethod) == null) {
      synchronized (ProbeServiceGrpc.class) {
        if ((getGetInfoMethod = ProbeServiceGrpc.getGetInfoMethod) == null) {
          ProbeServiceGrpc.getGetInfoMethod = getGetInfoMethod =
              io.grpc.MethodDescriptor.<io.kindling.probe.v1.GetInfoRequest, io.kindling.probe.v1.GetInfoResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetInfo"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.kindling.probe.v1.GetInfoRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.kindling.probe.v1.GetInfoResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ProbeServiceMethodDescriptorSupplier("GetInfo"))
              .build();
        }
      }
    }
    return getGetInfoMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.kindling.probe.v1.GetConfigRequest,
      io.kindling.probe.v1.GetConfigResponse> getGetConfigMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetConfig",
      requestType = io.kindling.probe.v1.GetConfigRequest.class,
      responseType = io.kindling.probe.v1.GetConfigResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.kindling.probe.v1.GetConfigRequest,
      io.kindling.probe.v1.GetConfigResponse> getGetConfigMethod() {
    io.grpc.MethodDescriptor<io.kindling.probe.v1.GetConfigRequest, io.kindling.probe.v1.GetConfigResponse> getGetConfigMethod;
    if ((getGetConfigMethod = ProbeServiceGrpc.getGetConfigMethod) == null) {
      synchronized (ProbeServiceGrpc.class) {
        if ((getGetConfigMethod = ProbeServiceGrpc.getGetConfigMethod) == null) {
          ProbeServiceGrpc.getGetConfigMethod = getGetConfigMethod =
              io.grpc.MethodDescriptor.<io.kindling.probe.v1.GetConfigRequest, io.kindling.probe.v1.GetConfigResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetConfig"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.kindling.probe.v1.GetConfigRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.kindling.probe.v1.GetConfigResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ProbeServiceMethodDescriptorSupplier("GetConfig"))
              .build();
        }
      }
    }
    return getGetConfigMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static ProbeServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ProbeServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ProbeServiceStub>() {
        @java.lang.Override
        public ProbeServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ProbeServiceStub(channel, callOptions);
        }
      };
    return ProbeServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static ProbeServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ProbeServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ProbeServiceBlockingV2Stub>() {
        @java.lang.Override
        public ProbeServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ProbeServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return ProbeServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static ProbeServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ProbeServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ProbeServiceBlockingStub>() {
        @java.lang.Override
        public ProbeServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ProbeServiceBlockingStub(channel, callOptions);
        }
      };
    return ProbeServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static ProbeServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ProbeServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ProbeServiceFutureStub>() {
        @java.lang.Override
        public ProbeServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ProbeServiceFutureStub(channel, callOptions);
        }
      };
    return ProbeServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * ProbeService streams kindling events to subscribers and reports and changes
   * what the probe captures.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Subscribe streams the events that match the request's filters, in
     * batches, in timestamp order, until the client cancels the call or the
     * service stops. Events the stream loses are reported in-band. (A record
     * that reaches the service later than its merge window allows, which needs
     * a delay of milliseconds inside the kernel, is delivered at once, out of
     * order; the service counts such records in its log.)
     * </pre>
     */
    default void subscribe(io.kindling.probe.v1.SubscribeRequest request,
        io.grpc.stub.StreamObserver<io.kindling.probe.v1.SubscribeResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSubscribeMethod(), responseObserver);
    }

    /**
     * <pre>
     * Configure changes which events the probe captures for all subscribers,
     * atomically. Events that are disabled here are filtered out in the
     * kernel where the probe can do so. An invalid request changes nothing.
     * </pre>
     */
    default void configure(io.kindling.probe.v1.ConfigureRequest request,
        io.grpc.stub.StreamObserver<io.kindling.probe.v1.ConfigureResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getConfigureMethod(), responseObserver);
    }

    /**
     * <pre>
     * GetInfo describes the service, its driver, the kernel features it found
     * and the catalogue of events it can capture.
     * </pre>
     */
    default void getInfo(io.kindling.probe.v1.GetInfoRequest request,
        io.grpc.stub.StreamObserver<io.kindling.probe.v1.GetInfoResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetInfoMethod(), responseObserver);
    }

    /**
     * <pre>
     * GetConfig returns the configuration Configure changes, with its
     * generation.
     * </pre>
     */
    default void getConfig(io.kindling.probe.v1.GetConfigRequest request,
        io.grpc.stub.StreamObserver<io.kindling.probe.v1.GetConfigResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetConfigMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service ProbeService.
   * <pre>
   * ProbeService streams kindling events to subscribers and reports and changes
   * what the probe captures.
   * </pre>
   */
  public static abstract class ProbeServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return ProbeServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service ProbeService.
   * <pre>
   * ProbeService streams kindling events to subscribers and reports and changes
   * what the probe captures.
   * </pre>
   */
  public static final class ProbeServiceStub
      extends io.grpc.stub.AbstractAsyncStub<ProbeServiceStub> {
    private ProbeServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ProbeServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ProbeServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Subscribe streams the events that match the request's filters, in
     * batches, in timestamp order, until the client cancels the call or the
     * service stops. Events the stream loses are reported in-band. (A record
     * that reaches the service later than its merge window allows, which needs
     * a delay of milliseconds inside the kernel, is delivered at once, out of
     * order; the service counts such records in its log.)
     * </pre>
     */
    public void subscribe(io.kindling.probe.v1.SubscribeRequest request,
        io.grpc.stub.StreamObserver<io.kindling.probe.v1.SubscribeResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getSubscribeMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Configure changes which events the probe captures for all subscribers,
     * atomically. Events that are disabled here are filtered out in the
     * kernel where the probe can do so. An invalid request changes nothing.
     * </pre>
     */
    public void configure(io.kindling.probe.v1.ConfigureRequest request,
        io.grpc.stub.StreamObserver<io.kindling.probe.v1.ConfigureResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getConfigureMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * GetInfo describes the service, its driver, the kernel features it found
     * and the catalogue of events it can capture.
     * </pre>
     */
    public void getInfo(io.kindling.probe.v1.GetInfoRequest request,
        io.grpc.stub.StreamObserver<io.kindling.probe.v1.GetInfoResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetInfoMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * GetConfig returns the configuration Configure changes, with its
     * generation.
     * </pre>
     */
    public void getConfig(io.kindling.probe.v1.GetConfigRequest request,
        io.grpc.stub.StreamObserver<io.kindling.probe.v1.GetConfigResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetConfigMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service ProbeService.
   * <pre>
   * ProbeService streams kindling events to subscribers and reports and changes
   * what the probe captures.
   * </pre>
   */
  public static final class ProbeServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<ProbeServiceBlockingV2Stub> {
    private ProbeServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ProbeServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ProbeServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Subscribe streams the events that match the request's filters, in
     * batches, in timestamp order, until the client cancels the call or the
     * service stops. Events the stream loses are reported in-band. (A record
     * that reaches the service later than its merge window allows, which needs
     * a delay of milliseconds inside the kernel, is delivered at once, out of
     * order; the service counts such records in its log.)
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, io.kindling.probe.v1.SubscribeResponse>
        subscribe(io.kindling.probe.v1.SubscribeRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getSubscribeMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Configure changes which events the probe captures for all subscribers,
     * atomically. Events that are disabled here are filtered out in the
     * kernel where the probe can do so. An invalid request changes nothing.
     * </pre>
     */
    public io.kindling.probe.v1.ConfigureResponse configure(io.kindling.probe.v1.ConfigureRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getConfigureMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetInfo describes the service, its driver, the kernel features it found
     * and the catalogue of events it can capture.
     * </pre>
     */
    public io.kindling.probe.v1.GetInfoResponse getInfo(io.kindling.probe.v1.GetInfoRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetInfoMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetConfig returns the configuration Configure changes, with its
     * generation.
     * </pre>
     */
    public io.kindling.probe.v1.GetConfigResponse getConfig(io.kindling.probe.v1.GetConfigRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetConfigMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service ProbeService.
   * <pre>
   * ProbeService streams kindling events to subscribers and reports and changes
   * what the probe captures.
   * </pre>
   */
  public static final class ProbeServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<ProbeServiceBlockingStub> {
    private ProbeServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ProbeServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ProbeServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Subscribe streams the events that match the request's filters, in
     * batches, in timestamp order, until the client cancels the call or the
     * service stops. Events the stream loses are reported in-band. (A record
     * that reaches the service later than its merge window allows, which needs
     * a delay of milliseconds inside the kernel, is delivered at once, out of
     * order; the service counts such records in its log.)
     * </pre>
     */
    public java.util.Iterator<io.kindling.probe.v1.SubscribeResponse> subscribe(
        io.kindling.probe.v1.SubscribeRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getSubscribeMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Configure changes which events the probe captures for all subscribers,
     * atomically. Events that are disabled here are filtered out in the
     * kernel where the probe can do so. An invalid request changes nothing.
     * </pre>
     */
    public io.kindling.probe.v1.ConfigureResponse configure(io.kindling.probe.v1.ConfigureRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getConfigureMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetInfo describes the service, its driver, the kernel features it found
     * and the catalogue of events it can capture.
     * </pre>
     */
    public io.kindling.probe.v1.GetInfoResponse getInfo(io.kindling.probe.v1.GetInfoRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetInfoMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetConfig returns the configuration Configure changes, with its
     * generation.
     * </pre>
     */
    public io.kindling.probe.v1.GetConfigResponse getConfig(io.kindling.probe.v1.GetConfigRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetConfigMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service ProbeService.
   * <pre>
   * ProbeService streams kindling events to subscribers and reports and changes
   * what the probe captures.
   * </pre>
   */
  public static final class ProbeServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<ProbeServiceFutureStub> {
    private ProbeServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ProbeServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ProbeServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Configure changes which events the probe captures for all subscribers,
     * atomically. Events that are disabled here are filtered out in the
     * kernel where the probe can do so. An invalid request changes nothing.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.kindling.probe.v1.ConfigureResponse> configure(
        io.kindling.probe.v1.ConfigureRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getConfigureMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * GetInfo describes the service, its driver, the kernel features it found
     * and the catalogue of events it can capture.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.kindling.probe.v1.GetInfoResponse> getInfo(
        io.kindling.probe.v1.GetInfoRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetInfoMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * GetConfig returns the configuration Configure changes, with its
     * generation.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.kindling.probe.v1.GetConfigResponse> getConfig(
        io.kindling.probe.v1.GetConfigRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetConfigMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_SUBSCRIBE = 0;
  private static final int METHODID_CONFIGURE = 1;
  private static final int METHODID_GET_INFO = 2;
  private static final int METHODID_GET_CONFIG = 3;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_SUBSCRIBE:
          serviceImpl.subscribe((io.kindling.probe.v1.SubscribeRequest) request,
              (io.grpc.stub.StreamObserver<io.kindling.probe.v1.SubscribeResponse>) responseObserver);
          break;
        case METHODID_CONFIGURE:
          serviceImpl.configure((io.kindling.probe.v1.ConfigureRequest) request,
              (io.grpc.stub.StreamObserver<io.kindling.probe.v1.ConfigureResponse>) responseObserver);
          break;
        case METHODID_GET_INFO:
          serviceImpl.getInfo((io.kindling.probe.v1.GetInfoRequest) request,
              (io.grpc.stub.StreamObserver<io.kindling.probe.v1.GetInfoResponse>) responseObserver);
          break;
        case METHODID_GET_CONFIG:
          serviceImpl.getConfig((io.kindling.probe.v1.GetConfigRequest) request,
              (io.grpc.stub.StreamObserver<io.kindling.probe.v1.GetConfigResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getSubscribeMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              io.kindling.probe.v1.SubscribeRequest,
              io.kindling.probe.v1.SubscribeResponse>(
                service, METHODID_SUBSCRIBE)))
        .addMethod(
          getConfigureMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.kindling.probe.v1.ConfigureRequest,
              io.kindling.probe.v1.ConfigureResponse>(
                service, METHODID_CONFIGURE)))
        .addMethod(
          getGetInfoMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.kindling.probe.v1.GetInfoRequest,
              io.kindling.probe.v1.GetInfoResponse>(
                service, METHODID_GET_INFO)))
        .addMethod(
          getGetConfigMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.kindling.probe.v1.GetConfigRequest,
              io.kindling.probe.v1.GetConfigResponse>(
                service, METHODID_GET_CONFIG)))
        .build();
  }

  private static abstract class ProbeServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    ProbeServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return io.kindling.probe.v1.ProbeProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("ProbeService");
    }
  }

  private static final class ProbeServiceFileDescriptorSupplier
      extends ProbeServiceBaseDescriptorSupplier {
    ProbeServiceFileDescriptorSupplier() {}
  }

  private static final class ProbeServiceMethodDescriptorSupplier
      extends ProbeServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    ProbeServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (ProbeServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new ProbeServiceFileDescriptorSupplier())
              .addMethod(getSubscribeMethod())
              .addMethod(getConfigureMethod())
              .addMethod(getGetInfoMethod())
              .addMethod(getGetConfigMethod())
              .build();
        }
      }
    }
    return result;
  }
}
