// Placeholder translation unit so the core library is never empty.
namespace secagg { const char* core_version() { return "0.1.0"; } }
