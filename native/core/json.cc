#include "core/json.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace inseq::core {

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}

  Json parse_document() {
    Json value = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("trailing characters");
    return value;
  }

 private:
  const std::string& s_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("invalid JSON at byte " + std::to_string(pos_) + ": " + what);
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }
  char peek() {
    skip_ws();
    if (pos_ >= s_.size()) fail("unexpected end of input");
    return s_[pos_];
  }
  void expect(const char* word) {
    for (const char* p = word; *p; ++p, ++pos_) {
      if (pos_ >= s_.size() || s_[pos_] != *p) fail(std::string("expected '") + word + "'");
    }
  }

  Json parse_value(int depth) {
    if (depth > 256) fail("nesting too deep");
    Json out;
    char c = peek();
    if (c == '{') {
      ++pos_;
      out.type_ = Json::Type::kObject;
      out.object_ = std::make_shared<std::map<std::string, Json>>();
      if (peek() == '}') { ++pos_; return out; }
      while (true) {
        if (peek() != '"') fail("expected a string key");
        std::string key = parse_string();
        if (peek() != ':') fail("expected ':'");
        ++pos_;
        (*out.object_)[key] = parse_value(depth + 1);
        char d = peek();
        ++pos_;
        if (d == '}') break;
        if (d != ',') fail("expected ',' or '}'");
      }
    } else if (c == '[') {
      ++pos_;
      out.type_ = Json::Type::kArray;
      out.array_ = std::make_shared<std::vector<Json>>();
      if (peek() == ']') { ++pos_; return out; }
      while (true) {
        out.array_->push_back(parse_value(depth + 1));
        char d = peek();
        ++pos_;
        if (d == ']') break;
        if (d != ',') fail("expected ',' or ']'");
      }
    } else if (c == '"') {
      out.type_ = Json::Type::kString;
      out.string_ = parse_string();
    } else if (c == 't') {
      expect("true");
      out.type_ = Json::Type::kBool;
      out.bool_ = true;
    } else if (c == 'f') {
      expect("false");
      out.type_ = Json::Type::kBool;
    } else if (c == 'n') {
      expect("null");
    } else if (c == 'N') {  // Python's json writes NaN/Infinity; accept them for goldens
      expect("NaN");
      out.type_ = Json::Type::kNumber;
      out.number_ = std::nan("");
    } else if (c == 'I') {
      expect("Infinity");
      out.type_ = Json::Type::kNumber;
      out.number_ = INFINITY;
    } else {
      out.type_ = Json::Type::kNumber;
      out.number_ = parse_number();
    }
    return out;
  }

  double parse_number() {
    size_t start = pos_;
    if (s_[pos_] == '-') {
      ++pos_;
      if (pos_ < s_.size() && s_[pos_] == 'I') { expect("Infinity"); return -INFINITY; }
    }
    while (pos_ < s_.size() && (isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' || s_[pos_] == 'e' ||
                                s_[pos_] == 'E' || s_[pos_] == '+' || s_[pos_] == '-')) {
      ++pos_;
    }
    if (start == pos_) fail("unexpected character");
    std::string token = s_.substr(start, pos_ - start);
    char* end = nullptr;
    double v = std::strtod(token.c_str(), &end);
    if (end != token.c_str() + token.size()) fail("bad number '" + token + "'");
    return v;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > s_.size()) fail("short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else fail("bad \\u escape");
    }
    return v;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') break;
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && pos_ + 6 <= s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
            pos_ += 2;
            uint32_t lo = parse_hex4();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
    return out;
  }
};

Json Json::parse(const std::string& text) { return JsonParser(text).parse_document(); }

static const Json& null_json() {
  static const Json kNull;
  return kNull;
}

double Json::as_double() const {
  if (type_ != Type::kNumber) throw std::runtime_error("JSON value is not a number");
  return number_;
}
int64_t Json::as_int() const {
  double v = as_double();
  if (v != std::floor(v)) throw std::runtime_error("JSON number is not an integer");
  if (std::fabs(v) > 9007199254740992.0) throw std::runtime_error("JSON integer is out of range (|n| > 2^53)");
  return static_cast<int64_t>(v);
}
bool Json::as_bool() const {
  if (type_ != Type::kBool) throw std::runtime_error("JSON value is not a boolean");
  return bool_;
}
const std::string& Json::as_string() const {
  if (type_ != Type::kString) throw std::runtime_error("JSON value is not a string");
  return string_;
}
const std::vector<Json>& Json::as_array() const {
  if (type_ != Type::kArray) throw std::runtime_error("JSON value is not an array");
  return *array_;
}
const std::map<std::string, Json>& Json::as_object() const {
  if (type_ != Type::kObject) throw std::runtime_error("JSON value is not an object");
  return *object_;
}
bool Json::has(const std::string& key) const {
  return type_ == Type::kObject && object_->count(key) > 0 && !object_->at(key).is_null();
}
const Json& Json::operator[](const std::string& key) const {
  if (type_ != Type::kObject) return null_json();
  auto it = object_->find(key);
  return it == object_->end() ? null_json() : it->second;
}
const Json& Json::operator[](size_t index) const {
  if (type_ != Type::kArray || index >= array_->size()) return null_json();
  return (*array_)[index];
}
size_t Json::size() const {
  if (type_ == Type::kArray) return array_->size();
  if (type_ == Type::kObject) return object_->size();
  return 0;
}
namespace {
// Typed getters name the key in their error ("n_layer: JSON number is not an integer").
template <typename F>
auto keyed(const std::string& key, F read) -> decltype(read()) {
  try {
    return read();
  } catch (const std::exception& e) {
    throw std::runtime_error(key + ": " + e.what());
  }
}
}  // namespace

double Json::get_double(const std::string& key, double fallback) const {
  return has(key) ? keyed(key, [&] { return (*this)[key].as_double(); }) : fallback;
}
int64_t Json::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? keyed(key, [&] { return (*this)[key].as_int(); }) : fallback;
}
bool Json::get_bool(const std::string& key, bool fallback) const {
  return has(key) ? keyed(key, [&] { return (*this)[key].as_bool(); }) : fallback;
}
std::string Json::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? keyed(key, [&] { return (*this)[key].as_string(); }) : fallback;
}

}  // namespace inseq::core
