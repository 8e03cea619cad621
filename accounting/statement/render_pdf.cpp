// Statements as PDF (statement.hpp), with libharu: A4 landscape, a header on
// every page (pool, account, currency, period), per section its heading, the
// opening, one block of lines per transfer, the totals (opening, credits,
// debits, closing), and "page N of M" at the foot of every page.
//
// The table is set in Courier, a fixed-width base-14 font (nothing embedded),
// so columns are made by padding text, and each line is one TextOut. The
// lines are laid out first and cut into pages, so M is known before the first
// page is drawn. Amounts are shown exactly as decimals of the currency.

#include "bmm/accounting/statement.hpp"

#include <hpdf.h>

#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace bmm::accounting::statement {

namespace {

constexpr HPDF_REAL k_page_w = 842, k_page_h = 595;  // A4 landscape, points
constexpr HPDF_REAL k_margin = 36;
constexpr HPDF_REAL k_table_top = k_page_h - 80;  // below the page header
constexpr HPDF_REAL k_table_bottom = 44;          // above the footer
constexpr HPDF_REAL k_table_size = 7, k_table_lead = 9;
constexpr HPDF_REAL k_heading_size = 9, k_heading_lead = 14;

// Column widths in Courier characters.
constexpr std::size_t k_w_time = 27, k_w_kind = 20, k_w_ref = 44, k_w_amount = 32;
constexpr std::size_t k_w_line = k_w_time + 1 + k_w_kind + 1 + k_w_ref + 1 + k_w_amount + 1 + k_w_amount;

enum class face { table, heading };
struct line {
    face f = face::table;
    std::string text;
};
// Lines that stay on one page together; `section` < 0 for none.
struct block {
    std::vector<line> lines;
    int section = -1;
    bool heading = false;  // the section's heading block (not repeated)
};

HPDF_REAL height_of(const block& b) {
    HPDF_REAL h = 0;
    for (const auto& l : b.lines) {
        h += l.f == face::heading ? k_heading_lead : k_table_lead;
    }
    return h;
}

// Printable ASCII only: the base-14 fonts' standard encoding has no more in
// common with UTF-8, and names and ids are ASCII anyway.
std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out;
}

std::string pad_right(std::string s, std::size_t w) {
    if (s.size() > w) {
        s.resize(w);
    }
    s.append(w - s.size(), ' ');
    return s;
}
std::string pad_left(const std::string& s, std::size_t w) {
    return s.size() >= w ? s : std::string(w - s.size(), ' ') + s;
}

std::string short_reference(const row& r) {
    if (r.block_hash) {
        std::string s = "block";
        if (r.block_height) {
            s += ' ';
            s += std::to_string(*r.block_height);
        }
        if (r.epoch) {
            s += " (epoch ";
            s += std::to_string(*r.epoch);
            s += ')';
        }
        return s;
    }
    if (r.payout_batch) {
        return "payout batch " + *r.payout_batch + (r.payout_line ? " line " + *r.payout_line : "");
    }
    if (r.epoch) {
        return "epoch " + std::to_string(*r.epoch);
    }
    return r.reference;
}

std::string columns(const std::string& time, const std::string& kind, const std::string& ref, const std::string& amt,
                    const std::string& bal) {
    return pad_right(time, k_w_time) + " " + pad_right(kind, k_w_kind) + " " + pad_right(ref, k_w_ref) + " " +
           pad_left(amt, k_w_amount) + " " + pad_left(bal, k_w_amount);
}

std::string total_line(std::string_view label, const std::string& value) {
    return pad_right("    " + std::string(label), k_w_line - k_w_amount) + pad_left(value, k_w_amount);
}

block section_heading(const section& sec, int index, bool continued) {
    block b;
    b.section = index;
    b.heading = !continued;
    b.lines.push_back({face::heading, sec.currency + ", " + sec.balance + " balance (" + sec.ledger_account +
                                          "), amounts in " + sec.currency + (continued ? " (continued)" : "")});
    b.lines.push_back({face::table, columns("time (UTC)", "kind", "reference", "amount", "balance")});
    return b;
}

block row_block(const section& sec, const row& r, int index) {
    block b;
    b.section = index;
    b.lines.push_back(
        {face::table, columns(r.time, r.kind, short_reference(r), decimal_text(r.amount_signed, sec.decimals),
                              decimal_text(r.balance, sec.decimals))});
    b.lines.push_back({face::table, "    id " + r.transfer_id});
    if (r.payout_batch) {
        b.lines.push_back({face::table, "    txid " + r.payout_txid.value_or("(not broadcast)") + "  address " +
                                            r.payout_address.value_or("")});
    }
    if (r.dividend) {
        const auto& d = *r.dividend;
        if (d.recorded) {
            b.lines.push_back(
                {face::table, "    dividend: weight " + to_decimal(d.weight) + " of " + to_decimal(d.total_weight) +
                                  " BMM base units held at the close of epoch " + std::to_string(d.epoch) +
                                  "; block dividend " + decimal_text(d.block_dividend, sec.decimals)});
        } else {
            b.lines.push_back({face::table, "    dividend: weight not recorded (epoch " + std::to_string(d.epoch) +
                                                " closed before weights were kept); block dividend " +
                                                decimal_text(d.block_dividend, sec.decimals)});
        }
    }
    return b;
}

std::vector<block> layout(const statement& s) {
    std::vector<block> out;
    for (std::size_t i = 0; i < s.sections.size(); ++i) {
        const section& sec = s.sections[i];
        const int index = static_cast<int>(i);
        block head = section_heading(sec, index, false);
        head.lines.push_back(
            {face::table, columns(time_text(s.from_us), "opening", "", "", decimal_text(sec.opening, sec.decimals))});
        out.push_back(std::move(head));
        for (const auto& r : sec.rows) {
            out.push_back(row_block(sec, r, index));
        }
        block totals;
        totals.section = index;
        totals.lines.push_back({face::table, total_line("opening", decimal_text(sec.opening, sec.decimals))});
        totals.lines.push_back({face::table, total_line("credits", decimal_text(sec.credits, sec.decimals))});
        totals.lines.push_back({face::table, total_line("debits", decimal_text(sec.debits, sec.decimals))});
        totals.lines.push_back(
            {face::table, total_line("closing at " + time_text(s.to_us), decimal_text(sec.closing, sec.decimals))});
        if (sec.balance == "available" && sec.closing < 0) {
            totals.lines.push_back({face::table, total_line("debt (late orphans, repaid first)",
                                                            decimal_text(amount(-sec.closing), sec.decimals))});
        }
        totals.lines.push_back({face::table, ""});
        out.push_back(std::move(totals));
    }
    if (out.empty()) {
        block none;
        none.lines.push_back({face::heading, "The account has held no currency before the end of the period."});
        out.push_back(std::move(none));
    }
    return out;
}

// Cuts the blocks into pages; a section that goes on over a page break has
// its heading repeated, marked "(continued)".
std::vector<std::vector<line>> paginate(const statement& s, const std::vector<block>& blocks) {
    std::vector<std::vector<line>> pages(1);
    HPDF_REAL used = 0;
    const HPDF_REAL room = k_table_top - k_table_bottom;
    for (const auto& b : blocks) {
        const HPDF_REAL h = height_of(b);
        if (used > 0 && used + h > room) {
            pages.emplace_back();
            used = 0;
            if (b.section >= 0 && !b.heading) {
                block again = section_heading(s.sections[static_cast<std::size_t>(b.section)], b.section, true);
                for (auto& l : again.lines) {
                    pages.back().push_back(std::move(l));
                }
                used += height_of(again);
            }
        }
        for (const auto& l : b.lines) {
            pages.back().push_back(l);
        }
        used += h;
    }
    return pages;
}

struct haru_error {
    HPDF_STATUS code = 0, detail = 0;
};
void on_haru_error(HPDF_STATUS code, HPDF_STATUS detail, void* user) {
    auto* e = static_cast<haru_error*>(user);
    if (e->code == 0) {
        e->code = code;
        e->detail = detail;
    }
}

struct doc_free {
    void operator()(HPDF_Doc d) const noexcept { HPDF_Free(d); }
};

void text_at(HPDF_Page page, HPDF_Font font, HPDF_REAL size, HPDF_REAL x, HPDF_REAL y, const std::string& text) {
    HPDF_Page_SetFontAndSize(page, font, size);
    HPDF_Page_TextOut(page, x, y, printable(text).c_str());
}

}  // namespace

result<std::string> render_pdf(const statement& s) {
    haru_error err;
    std::unique_ptr<std::remove_pointer_t<HPDF_Doc>, doc_free> doc(HPDF_New(on_haru_error, &err));
    if (!doc) {
        return error{"libharu could not make a PDF document (out of memory?)"};
    }
    HPDF_Doc pdf = doc.get();
    HPDF_SetCompressionMode(pdf, HPDF_COMP_ALL);
    const std::string title = printable(s.pool + " statement: " + s.account);
    HPDF_SetInfoAttr(pdf, HPDF_INFO_TITLE, title.c_str());
    HPDF_SetInfoAttr(pdf, HPDF_INFO_CREATOR, "bmm_statement");
    HPDF_Font mono = HPDF_GetFont(pdf, "Courier", nullptr);
    HPDF_Font bold = HPDF_GetFont(pdf, "Helvetica-Bold", nullptr);
    HPDF_Font sans = HPDF_GetFont(pdf, "Helvetica", nullptr);

    const auto pages = paginate(s, layout(s));
    const std::string period = "Period " + time_text(s.from_us) + " to " + time_text(s.to_us) +
                               " (UTC; from included, to excluded)    Account " + s.account + "    Currency " +
                               s.currency.value_or("all");
    for (std::size_t n = 0; n < pages.size() && err.code == 0; ++n) {
        HPDF_Page page = HPDF_AddPage(pdf);
        HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_LANDSCAPE);
        HPDF_Page_BeginText(page);
        text_at(page, bold, 13, k_margin, k_page_h - 42, s.pool + ": account statement of " + s.account);
        text_at(page, sans, 9, k_margin, k_page_h - 58, period);
        HPDF_REAL y = k_table_top;
        for (const auto& l : pages[n]) {
            const bool heading = l.f == face::heading;
            y -= heading ? k_heading_lead : k_table_lead;
            if (!l.text.empty()) {
                text_at(page, heading ? bold : mono, heading ? k_heading_size : k_table_size, k_margin, y, l.text);
            }
        }
        const std::string foot = "page " + std::to_string(n + 1) + " of " + std::to_string(pages.size());
        text_at(page, sans, 8, k_page_w - k_margin - 60, 24, foot);
        HPDF_Page_EndText(page);
    }
    if (err.code == 0) {
        HPDF_SaveToStream(pdf);
    }
    std::string out;
    if (err.code == 0) {
        out.resize(HPDF_GetStreamSize(pdf));
        HPDF_UINT32 got = static_cast<HPDF_UINT32>(out.size());
        HPDF_ReadFromStream(pdf, reinterpret_cast<HPDF_BYTE*>(out.data()), &got);
        out.resize(got);
    }
    if (err.code != 0) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "libharu failed making the PDF: error 0x%04X, detail %u (see hpdf_error.h)",
                      static_cast<unsigned>(err.code), static_cast<unsigned>(err.detail));
        return error{buf};
    }
    return out;
}

}  // namespace bmm::accounting::statement
