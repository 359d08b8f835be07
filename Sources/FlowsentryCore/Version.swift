public enum FlowsentryVersion {
  public static let current = "0.1.0"
}
