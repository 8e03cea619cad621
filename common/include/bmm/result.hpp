#pragma once
// result<T>: a value or an error message, for boundaries where bad input or a
// failing call must be reported rather than thrown through a loop.

#include <string>
#include <utility>
#include <variant>

namespace bmm {

struct error {
    std::string message;
};

template <class T>
class [[nodiscard]] result {
public:
    result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    result(error e) : v_(std::move(e)) {}      // NOLINT(google-explicit-constructor)

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }
    const T& operator*() const& { return std::get<0>(v_); }

    const std::string& error_message() const { return std::get<1>(v_).message; }

private:
    std::variant<T, error> v_;
};

}  // namespace bmm
